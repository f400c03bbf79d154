/**
 * Attacker-chosen text in a log line: cut to a short prefix and escaped, so a line stays one short line
 * whatever a client typed (newlines, terminal escapes, 16 KB names).
 */

/** At most `max` characters of `value`, everything outside printable ASCII as `\xNN`/`\uNNNN`, `…` when cut. */
export const preview = (value: string, max = 64): string => {
  const head = Array.from(value.slice(0, max * 2)).slice(0, max)
  const escaped = head.map((char) => {
    const code = char.codePointAt(0)!
    if (code >= 0x20 && code < 0x7f && char !== "\\") return char
    if (char === "\\") return "\\\\"
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : code <= 0xffff
      ? `\\u${code.toString(16).padStart(4, "0")}`
      : `\\u{${code.toString(16)}}`
  }).join("")
  return head.length < Array.from(value.slice(0, max * 2 + 2)).length ? `${escaped}…` : escaped
}
