// Canned responses the console offers, per chat language. Short, warm and
// plain, in the peer-support voice of the organisations' own texts; the
// counsellor edits before sending. Deployments replace these with their own.

export const CANNED: Readonly<Record<string, readonly string[]>> = {
  en: [
    "Hello, I'm a peer counsellor. I'm here to listen. What would you like to talk about?",
    "Thank you for telling me. You are not alone in this.",
    "Are you safe right now?",
    "If you are in danger now, you can call 112, or the free SOS line 0800 11111.",
    "You decide what happens next. I won't share anything without your agreement.",
    "I need a moment to check something. I'll be right back.",
    "Is there anything else you would like to talk about?",
    "Thank you for reaching out. You can come back any time we are open.",
  ],
  mk: [
    "Здраво, јас сум советник од заедницата. Тука сум да те слушам. За што би сакал/а да разговараме?",
    "Ти благодарам што ми кажа. Не си сам/а во ова.",
    "Дали си безбеден/на сега?",
    "Ако си во опасност сега, можеш да се јавиш на 112 или на бесплатната SOS-линија 0800 11111.",
    "Ти одлучуваш што понатаму. Нема да споделам ништо без твоја согласност.",
    "Ми треба момент да проверам нешто. Веднаш се враќам.",
    "Дали има уште нешто за што би сакал/а да разговараме?",
    "Ти благодарам што се јави. Можеш да се вратиш кога и да сме отворени.",
  ],
  sq: [
    "Përshëndetje, jam këshilltar/e nga komuniteti. Jam këtu të të dëgjoj. Për çfarë do të doje të flasim?",
    "Faleminderit që ma the. Nuk je vetëm në këtë.",
    "A je i/e sigurt tani?",
    "Nëse je në rrezik tani, mund të telefonosh 112 ose linjën SOS falas 0800 11111.",
    "Ti vendos çfarë ndodh më tej. Nuk do të ndaj asgjë pa pëlqimin tënd.",
    "Më duhet një moment të kontrolloj diçka. Kthehem menjëherë.",
    "A ka diçka tjetër për të cilën do të doje të flasim?",
    "Faleminderit që na shkrove. Mund të kthehesh kurdo që jemi të hapur.",
  ],
};

export function cannedFor(language: string | undefined): readonly string[] {
  return CANNED[language ?? "en"] ?? CANNED.en ?? [];
}
