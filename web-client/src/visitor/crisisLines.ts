// A crisis line's name in the page's language: the deployment configures
// names per language (`names`, PROTOCOL.md "Crisis lines"); without one for
// this language, the default `name`.

import type { CrisisLine } from "../protocol";

export function crisisLineName(line: CrisisLine, language: string): string {
  const named = line.names?.find((n) => n.language === language)?.name;
  return named !== undefined && named.trim() !== "" ? named : line.name;
}
