// Albanian (standard, as used in North Macedonia). Informal "ti", as peers
// speak; wording that avoids forcing a gender on the reader.

import type { Catalogue } from "./catalogue";

export const sq: Catalogue = {
  "language.choose": "Zgjidh gjuhën",
  "language.code": "sq",

  "welcome.title": "Fol me dikë që të kupton",
  "welcome.intro":
    "Bisedë falas dhe private me një këshilltar të trajnuar nga komuniteti i punëtorëve të seksit. Pa emër, pa numër telefoni, pa llogari.",

  "consent.title": "Para se të fillosh",
  "consent.encrypted":
    "Mesazhet e tua kyçen (enkriptohen) në telefonin tënd. Vetëm ti dhe këshilltari mund t'i lexoni. Serveri ynë nuk mundet.",
  "consent.kept": (days) =>
    `Serveri ruan vetëm mesazhe të kyçura. I fshin sapo të dorëzohen, e më së voni pas ${days} ${days === 1 ? "dite" : "ditësh"}. Nuk e ruajmë adresën tënde IP.`,
  "consent.device": (title) =>
    `Kjo faqe nuk ruan mesazhe, cookies as asgjë tjetër në këtë telefon. Kur e mbyll, biseda zhduket. Por historiku i shfletuesit e ruan adresën e kësaj faqeje, me emrin «${title}», derisa ta fshish.`,
  "consent.escalation":
    "Nëse je në rrezik, këshilltari mund të ftojë në bisedë një këshilltar për kriza. Ky sheh vetëm mesazhet që shkruan pasi të hyjë, jo bisedën e mëparshme. Asgjë tjetër nuk ndahet.",
  "consent.exit": "Për ta lënë menjëherë këtë faqe, shtyp «Dil tani».",
  "consent.exitKeyboard": "Mund të shtypësh edhe dy herë tastin Esc.",
  "consent.agree": "E kuptoj, vazhdo",

  "topic.title": "Për çfarë do të flasësh?",
  "topic.optional": "Nuk është e detyrueshme.",
  "topic.violence": "Dhunë",
  "topic.trafficking": "Trafikim ose punë e detyruar",
  "topic.health": "Shëndet dhe HIV",
  "topic.police_legal": "Policia ose probleme ligjore",
  "topic.just_talk": "Thjesht dua të flas",
  "urgent.label": "Është urgjente",
  "urgent.hint": "Zgjidhe këtë nëse të duhet ndihmë shpejt. Do të përpiqemi të të përgjigjemi ty të parit.",
  "start.button": "Fillo bisedën",
  "start.unavailable":
    "Biseda nuk mund të fillojë ende. Nëse je në rrezik, telefono një nga numrat te «Jam në rrezik tani».",

  "waiting.title": "Po presim një këshilltar të lirë",
  "waiting.position": (n) => (n === 1 ? "Biseda e radhës është jotja." : `Numri yt në radhë: ${n}.`),
  "waiting.estimate": (minutes) =>
    minutes < 1 ? "Më pak se një minutë" : `Rreth ${minutes} ${minutes === 1 ? "minutë" : "minuta"}`,
  "waiting.nobodyAvailable":
    "Tani nuk ka asnjë këshilltar të lirë. E ruan vendin tënd dhe një këshilltar do të të përgjigjet sapo të kthehet. Nuk mund të themi kur.",
  "waiting.typeWhileWaiting": "Mund të shkruash që tani. Mesazhet do të dërgohen kur të hyjë këshilltari.",
  "waiting.keepPlace": "Qëndro në këtë faqe që të mos e humbasësh radhën.",
  "waiting.cancel": "Anulo",
  "waiting.queued": "Në pritje për t'u dërguar",
  "refused.busy": "Tani po presin shumë njerëz. Provo përsëri pas pak.",
  "refused.closed": "Tani jemi të mbyllur. Nëse je në rrezik, telefono një nga këta numra:",
  "refused.other": "Biseda nuk mund të fillojë tani. Nëse je në rrezik, telefono një nga këta numra:",

  "chat.placeholder": "Shkruaj një mesazh",
  "chat.send": "Dërgo",
  "chat.you": "Ti",
  "chat.counsellor": "Këshilltari",
  "chat.verified": "Këshilltar i verifikuar",
  "chat.sending": "Po dërgohet…",
  "chat.sent": "U dërgua",
  "chat.failed": "Nuk u dërgua. Prek për ta provuar përsëri.",
  "chat.counsellorJoined": "Një këshilltar hyri në bisedë.",
  "chat.transfer": "Një koleg do ta vazhdojë bisedën me ty.",
  "chat.counsellorTyping": "Këshilltari po shkruan…",
  "chat.rescued": "Këshilltari yt u detyrua të largohej. Një koleg po e merr bisedën dhe do të lexojë çfarë shkrove.",
  "chat.crisisJoined": "Një këshilltar për kriza hyri në bisedë.",
  "chat.crisisFallback": "Tani nuk ka këshilltar për kriza të lirë. Të lutem telefono një nga këta numra:",
  "chat.ended": "Biseda mbaroi.",

  "chat.joining": "Po hapet një linjë private me këshilltarin…",
  "chat.notVerified": "I paverifikuar",
  "chat.newCounsellor": (name) => `${name} hyri në bisedë.`,
  "chat.previousLeft": "Këshilltari i mëparshëm doli nga biseda.",
  "chat.counsellorReconnected": "Këshilltari juaj u rilidh.",
  "chat.unverifiedMember":
    "Dikush që nuk mundëm ta verifikonim do të hynte. Nuk e lejuam. Ki kujdes çfarë ndan.",
  "chat.leave": "Mbyll bisedën",
  "chat.log": "Mesazhet",
  "chat.sosAlerted": "I thamë këshilltarit tënd që je në rrezik. Do të të përgjigjet këtu.",
  "chat.sosUrgent": "Kërkesa jote tani është urgjente: do të të përgjigjen para të tjerëve.",

  "confirm.endTitle": "Ta mbyllësh bisedën?",
  "confirm.endText": "Këshilltari do të shohë që ke dalë. Biseda do të zhduket nga kjo faqe.",
  "confirm.endYes": "Po, mbyll bisedën",
  "confirm.endNo": "Jo, kthehu te biseda",
  "confirm.cancelTitle": "Të dalësh nga radha?",
  "confirm.cancelText": "Do ta humbasësh vendin tënd në radhë.",
  "confirm.cancelYes": "Po, dil",
  "confirm.cancelNo": "Jo, ma mbaj vendin",

  "resume.offer": "Dua të mund të kthehem te kjo bisedë",
  "resume.explain": (minutes) =>
    `Shkruaje këtë kod në letër. Me të mund të kthehesh te kjo bisedë nga çdo shfletues, deri në ${minutes} minuta pasi të dalësh. Nuk e ruajmë askund dhe ndryshon sa herë që e përdor.`,
  "resume.have": "Kam një kod për t'u kthyer te një bisedë",
  "resume.label": "Kodi yt",
  "resume.continue": "Vazhdo bisedën",
  "resume.invalid": "Kodi nuk është i plotë. Kontrolloje.",
  "resume.expired": "Ky kod nuk vlen më. Mund të fillosh një bisedë të re.",

  "closed.hours": "Kur jemi të hapur",
  "closed.timeZone": (zone) => `Orari është sipas orës së ${zone === "Europe/Skopje" ? "Shkupit" : zone}.`,
  "closed.next": (when) => `Hapemi përsëri ${when}.`,
  "closed.messageTitle": "Lër një mesazh për ekipin",
  "closed.messageExplain":
    "Mesazhi kyçet në telefonin tënd para se të dërgohet: mund ta lexojnë vetëm këshilltarët tanë. Nuk mund të të përgjigjemi këtu, prandaj nëse do përgjigje, shkruaj si të të gjejmë, por vetëm nëse kjo është e sigurt për ty.",
  "closed.messageSend": "Dërgo mesazhin",
  "closed.messageSent": "Mesazhi u dërgua te ekipi. Faleminderit.",
  "closed.messageFailed": "Mesazhi nuk u dërgua dot. Telefono një nga numrat më lart.",
  "closed.messageUndelivered":
    "Mesazhi nuk arriti dot: tani askush nga ekipi nuk mund ta marrë. Nuk u ruajt. Nëse ke nevojë për ndihmë tani, telefono një nga këta numra:",
  "weekday.1": "E hënë",
  "weekday.2": "E martë",
  "weekday.3": "E mërkurë",
  "weekday.4": "E enjte",
  "weekday.5": "E premte",
  "weekday.6": "E shtunë",
  "weekday.7": "E diel",

  "feedback.question": "A të ndihmoi kjo bisedë?",
  "feedback.anonymous": "Një prekje, anonime: numërojmë vetëm përgjigjet.",
  "feedback.helped": "Po",
  "feedback.somewhat": "Pak",
  "feedback.not_helped": "Jo",
  "feedback.thanks": "Faleminderit për përgjigjen.",

  "tracks.link": "Si të mos lësh gjurmë në këtë telefon",
  "tracks.title": "Mos lër gjurmë",
  "tracks.intro":
    "Kjo faqe nuk ruan mesazhe as cookies në telefonin tënd. Por shfletuesi i mban mend faqet që ke vizituar, edhe këtë. Ja si ta fshish.",
  "tracks.historyTitle": "Fshije këtë faqe nga historiku",
  "tracks.chrome": (title) => `Chrome: prek ⋮, pastaj «Historiku». Gjej «${title}» dhe prek ✕ pranë tij.`,
  "tracks.samsung": (title) => `Samsung Internet: prek ☰, pastaj «Historiku». Mbaj shtypur «${title}», pastaj «Fshi».`,
  "tracks.safari": (title) => `Safari (iPhone): prek ikonën e librit, pastaj orën. Rrëshqit majtas te «${title}», pastaj prek «Fshi».`,
  "tracks.firefox": (title) => `Firefox: prek ⋮, pastaj «Historiku». Mbaj shtypur «${title}», pastaj «Fshi».`,
  "tracks.back": "Kthehu",
  "tracks.privateTitle": "Herën tjetër, përdor një skedë private",
  "tracks.private":
    "Një skedë private nuk ruan historik: «Incognito» në Chrome, «Secret mode» në Samsung Internet, «Private» në Safari dhe Firefox. Mbylle kur të mbarosh.",
  "tracks.exit":
    "«Dil tani» e mbyll bisedën dhe hap një faqe tjetër. Adresa e kësaj faqeje mbetet prapë në historik derisa ta fshish.",

  "exit.button": "Dil tani",
  "exit.hint": "ose shtyp Esc dy herë",

  "sos.button": "Jam në rrezik tani",
  "sos.title": "Nëse je në rrezik tani",
  "sos.call": "Telefono:",
  "sos.emergency": "Urgjenca",
  "sos.police": "Policia",
  "sos.ambulance": "Ndihma e shpejtë",
  "sos.trafficking": "Linja SOS kundër trafikimit (Open Gate – La Strada), falas",
  "sos.escalation":
    "Nëse je në bisedë, këshilltari mund të ftojë një këshilltar për kriza. Ky sheh vetëm mesazhet që shkruan pasi të hyjë. Asgjë tjetër nuk ndahet.",
  "sos.moreLines": "Linja të tjera ndihme:",
  "sos.close": "Kthehu",

  "error.offline": "Nuk ka lidhje tani. Provo përsëri.",
  "error.reconnecting": "Lidhja u ndërpre. Po lidhemi përsëri… Biseda është ende këtu.",
  "error.unsupported":
    "Ky shfletues është shumë i vjetër për një bisedë të sigurt. Përdor një shfletues më të ri ose telefono një nga numrat te «Jam në rrezik tani».",
  "circle.codeTitle": "Bashkohu në një rreth mbështetjeje",
  "circle.codeExplain":
    "Shkruaj kodin e ftesës që të dhanë. Kodi nuk është në lidhje, prandaj nuk mbetet në historikun e shfletuesit.",
  "circle.code": "Kodi i ftesës",
  "circle.codeOpen": "Hap ftesën",
  "circle.codeAgain": "Shkruaj një kod tjetër",
  "circle.invited": "Je ftuar në një rreth mbështetjeje mes bashkëmoshatarëve",
  "circle.topic": (topic: string) => `Tema: ${topic}`,
  "circle.private":
    "Në këtë rreth merr një identitet të ri anonim, më vete. Asgjë nuk e lidh me bisedat ose rrethet e tua të tjera. Anëtarët shohin vetëm emrin që zgjedh këtu.",
  "circle.name": "Emri që do të shohin të tjerët në këtë rreth",
  "circle.nameHint": "Më mirë jo emri yt i vërtetë.",
  "circle.join": "Kërko të bashkohesh",
  "circle.waiting": "Në pritje që një moderator të të lejojë të hysh…",
  "circle.history": "Sheh vetëm mesazhet e dërguara pasi u bashkove, jo ato më parë.",
  "circle.joined": "U bashkove me rrethin.",
  "circle.leave": "Dil nga rrethi",
  "circle.left": "Dole nga rrethi. Asgjë më nuk do të vijë në këtë faqe.",
  "circle.ended": "Ky rreth mbaroi.",
  "circle.muted": "Një moderator të ka heshtur. Mesazhi yt nuk u dërgua.",
  "circle.unknown": "Ky kod ftese nuk ekziston. Kontrolloje me personin që ta dha.",
  "circle.expired": "Kjo ftesë ka skaduar. Kërkoji një të re personit që ta dha.",
  "circle.usedUp": "Kjo ftesë është përdorur shumë herë. Kërko një të re.",
  "circle.revoked": "Kjo ftesë u tërhoq. Kërkoji një të re personit që ta dha.",
  "circle.error": "Bashkimi nuk funksionoi. Provo përsëri më vonë.",
};
