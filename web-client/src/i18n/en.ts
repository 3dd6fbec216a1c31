// English: the reference catalogue. Every other language must have exactly
// these keys (catalogue.ts makes a missing or extra key a type error).
// Plain words, short sentences: many readers are frightened, tired, or
// reading a second language.

export const en = {
  "language.choose": "Choose your language",
  /** The page's language code, for dates (Intl) and crisis line names. */
  "language.code": "en",

  "welcome.title": "Talk to someone who understands",
  "welcome.intro":
    "A free, private chat with a trained peer counsellor from the sex worker community. No name, no phone number, no account.",

  "consent.title": "Before you start",
  "consent.encrypted":
    "Your messages are locked (encrypted) on your phone. Only you and the counsellor can read them. Our server cannot.",
  "consent.kept": (days: number) =>
    `The server keeps only locked messages. It deletes them once they are delivered, and after ${days} ${days === 1 ? "day" : "days"} at the latest. We do not keep your IP address.`,
  "consent.device": (title: string) =>
    `This page saves no messages, no cookies and nothing else on this phone. When you close it, the chat is gone. But your browser's history keeps the address of this site, under the name “${title}”, until you delete it.`,
  "consent.escalation":
    "If you are in danger, your counsellor can bring in a crisis counsellor. The crisis counsellor sees only what you write after they join, not the chat before. Nothing else is shared.",
  "consent.exit": "To leave this page at once, press “Leave now”.",
  "consent.exitKeyboard": "You can also press the Esc key twice.",
  "consent.agree": "I understand, continue",

  "topic.title": "What would you like to talk about?",
  "topic.optional": "You can skip this.",
  "topic.violence": "Violence",
  "topic.trafficking": "Trafficking or forced work",
  "topic.health": "Health and HIV",
  "topic.police_legal": "Police or legal problems",
  "topic.just_talk": "I just want to talk",
  "urgent.label": "It is urgent",
  "urgent.hint": "Choose this if you need help soon. We will try to answer you first.",
  "start.button": "Start the chat",
  "start.unavailable": "The chat cannot start yet. If you are in danger, call one of the numbers under “I'm in danger now”.",

  "waiting.title": "Waiting for a counsellor",
  "waiting.position": (n: number) => (n === 1 ? "You are next." : `You are number ${n} in line.`),
  "waiting.estimate": (minutes: number) =>
    minutes < 1 ? "Less than a minute" : `About ${minutes} ${minutes === 1 ? "minute" : "minutes"}`,
  "waiting.nobodyAvailable":
    "No counsellor is free right now. You keep your place, and a counsellor will answer as soon as one is back. We cannot say when.",
  "waiting.typeWhileWaiting": "You can already write. Your messages will be sent when a counsellor joins.",
  "waiting.keepPlace": "Stay on this page to keep your place.",
  "waiting.cancel": "Cancel",
  "waiting.queued": "Waiting to be sent",
  "refused.busy": "Many people are waiting right now. Please try again in a little while.",
  "refused.closed": "We are closed right now. If you are in danger, call one of these numbers:",
  "refused.other": "The chat cannot start right now. If you are in danger, call one of these numbers:",

  "chat.placeholder": "Write a message",
  "chat.send": "Send",
  "chat.you": "You",
  "chat.counsellor": "Counsellor",
  "chat.verified": "Verified counsellor",
  "chat.sending": "Sending…",
  "chat.sent": "Sent",
  "chat.failed": "Not sent. Tap to try again.",
  "chat.counsellorJoined": "A counsellor has joined the chat.",
  "chat.transfer": "A colleague will continue the chat with you.",
  "chat.counsellorTyping": "The counsellor is writing…",
  "chat.rescued": "Your counsellor had to step away. A colleague is taking over the chat and will read what you wrote.",
  "chat.crisisJoined": "A crisis counsellor has joined the chat.",
  "chat.crisisFallback": "No crisis counsellor is free right now. Please call one of these numbers:",
  "chat.ended": "The chat has ended.",

  "chat.joining": "Opening a private line to the counsellor…",
  "chat.notVerified": "Not verified",
  "chat.newCounsellor": (name: string) => `${name} has joined the chat.`,
  "chat.previousLeft": "The previous counsellor has left the chat.",
  "chat.counsellorReconnected": "Your counsellor reconnected.",
  "chat.unverifiedMember":
    "Someone we could not verify was going to join. We did not let them in. Be careful what you share.",
  "chat.leave": "End the chat",
  "chat.log": "Messages",
  "chat.sosAlerted": "We told your counsellor that you are in danger. They will answer you here.",
  "chat.sosUrgent": "Your request is now urgent: you will be answered before others.",

  "confirm.endTitle": "End the chat?",
  "confirm.endText": "Your counsellor will see that you left. The chat will be gone from this page.",
  "confirm.endYes": "Yes, end the chat",
  "confirm.endNo": "No, go back to the chat",
  "confirm.cancelTitle": "Leave the line?",
  "confirm.cancelText": "You will lose your place in line.",
  "confirm.cancelYes": "Yes, leave",
  "confirm.cancelNo": "No, keep my place",

  "resume.offer": "Let me come back to this chat",
  "resume.explain": (minutes: number) =>
    `Write this code down on paper. With it you can come back to this chat from any browser, up to ${minutes} minutes after you leave. We do not save it anywhere, and it changes each time you use it.`,
  "resume.have": "I have a code to come back to a chat",
  "resume.label": "Your code",
  "resume.continue": "Continue the chat",
  "resume.invalid": "This code is not complete. Please check it.",
  "resume.expired": "This code does not work any more. You can start a new chat.",

  "closed.hours": "When we are open",
  "closed.timeZone": (zone: string) => `Times are in ${zone === "Europe/Skopje" ? "Skopje" : zone} time.`,
  "closed.next": (when: string) => `We open again ${when}.`,
  "closed.messageTitle": "Leave a message for the team",
  "closed.messageExplain":
    "It is locked on your phone before it is sent: only our counsellors can read it. We cannot write back to you here, so if you want an answer, say how to reach you, but only if that is safe for you.",
  "closed.messageSend": "Send the message",
  "closed.messageSent": "Your message was sent to the team. Thank you.",
  "closed.messageFailed": "The message could not be sent. Please call one of the numbers above.",
  "closed.messageUndelivered":
    "Your message could not be delivered: nobody on the team can receive it right now. It was not kept. If you need help now, please call one of these numbers:",
  "weekday.1": "Monday",
  "weekday.2": "Tuesday",
  "weekday.3": "Wednesday",
  "weekday.4": "Thursday",
  "weekday.5": "Friday",
  "weekday.6": "Saturday",
  "weekday.7": "Sunday",

  "feedback.question": "Did this chat help you?",
  "feedback.anonymous": "One tap, anonymous: we only count the answers.",
  "feedback.helped": "Yes",
  "feedback.somewhat": "A little",
  "feedback.not_helped": "No",
  "feedback.thanks": "Thank you for your answer.",

  "tracks.link": "How to leave no trace on this phone",
  "tracks.title": "Leave no trace",
  "tracks.intro":
    "This page keeps no messages and no cookies on your phone. But your browser remembers the sites you visited, this one too. Here is how to remove it.",
  "tracks.historyTitle": "Delete this site from the history",
  "tracks.chrome": (title: string) => `Chrome: tap ⋮, then “History”. Find “${title}” and tap ✕ next to it.`,
  "tracks.samsung": (title: string) => `Samsung Internet: tap ☰, then “History”. Press and hold “${title}”, then “Delete”.`,
  "tracks.safari": (title: string) =>
    `Safari (iPhone): tap the book icon, then the clock. Swipe left on “${title}”, then tap “Delete”.`,
  "tracks.firefox": (title: string) => `Firefox: tap ⋮, then “History”. Press and hold “${title}”, then “Delete”.`,
  "tracks.back": "Back",
  "tracks.privateTitle": "Next time, use a private tab",
  "tracks.private":
    "A private tab keeps no history: “Incognito” in Chrome, “Secret mode” in Samsung Internet, “Private” in Safari and Firefox. Close it when you are done.",
  "tracks.exit":
    "“Leave now” closes the chat and opens another site. The address of this page still stays in the history until you delete it.",

  "exit.button": "Leave now",
  "exit.hint": "or press Esc twice",

  "sos.button": "I'm in danger now",
  "sos.title": "If you are in danger now",
  "sos.call": "Call:",
  "sos.emergency": "Emergency",
  "sos.police": "Police",
  "sos.ambulance": "Ambulance",
  "sos.trafficking": "SOS line against trafficking (Open Gate – La Strada), free",
  "sos.escalation":
    "In a chat, your counsellor can bring in a crisis counsellor. The crisis counsellor sees only what you write after they join. Nothing else is shared.",
  "sos.moreLines": "More help lines:",
  "sos.close": "Back",

  "error.offline": "No connection right now. Please try again.",
  "error.reconnecting": "The connection was lost. Reconnecting… Your chat is still here.",
  "error.unsupported":
    "This browser is too old for a safe chat. Please use a newer browser, or call one of the numbers under “I'm in danger now”.",
  "circle.codeTitle": "Join a peer support circle",
  "circle.codeExplain":
    "Type the invitation code you were given. The code is not in the link, so it does not stay in your browser's history.",
  "circle.code": "Invitation code",
  "circle.codeOpen": "Open the invitation",
  "circle.codeAgain": "Type another code",
  "circle.invited": "You are invited to a peer support circle",
  "circle.topic": (topic: string) => `Topic: ${topic}`,
  "circle.private":
    "In this circle you get a new, separate anonymous identity. Nothing links it to your other chats or circles. Members see only the name you choose here.",
  "circle.name": "The name others in this circle will see",
  "circle.nameHint": "Better not your real name.",
  "circle.join": "Ask to join",
  "circle.waiting": "Waiting for a moderator to let you in…",
  "circle.history": "You see only messages sent after you joined, not the ones before.",
  "circle.joined": "You joined the circle.",
  "circle.leave": "Leave the circle",
  "circle.left": "You left the circle. Nothing more will reach this page.",
  "circle.ended": "This circle has ended.",
  "circle.muted": "A moderator has muted you. Your message was not sent.",
  "circle.unknown": "This invitation code does not exist. Check it with the person who gave it to you.",
  "circle.expired": "This invitation has expired. Ask the person who gave it to you for a new one.",
  "circle.usedUp": "This invitation has been used too many times. Ask for a new one.",
  "circle.revoked": "This invitation was withdrawn. Ask the person who gave it to you for a new one.",
  "circle.error": "Joining did not work. Please try again later.",
};
