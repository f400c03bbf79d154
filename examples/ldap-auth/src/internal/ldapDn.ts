/**
 * Whether a string is a distinguished name in the RFC 4514 string form: `attr=value` RDNs separated by commas,
 * multi-valued RDNs joined by `+`, special characters escaped with `\`. It catches the usual slips (`not a dn`,
 * `dc=example;dc=org`, a trailing comma) before the directory answers them with an opaque error at the first login.
 */

// An attribute type: a descriptor (`cn`, `dc`, `uid`) or a numeric OID (`2.5.4.3`).
const attributeType = /^\s*(?:[a-z][a-z0-9-]*|\d+(?:\.\d+)*)\s*$/i
// A value: escaped pairs, `#hex`, or any character but the unescaped specials.
const attributeValue = /^\s*(?:#(?:[0-9a-f]{2})+|(?:\\[0-9a-f]{2}|\\[ "#+,;<=>\\]|[^"+,;<>\\\u0000])+)\s*$/i

/** Splits on `separator` where it is not escaped. */
const split = (text: string, separator: string): Array<string> => {
  const parts: Array<string> = []
  let current = ""
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!
    if (char === "\\" && index + 1 < text.length) {
      current += char + text[++index]
    } else if (char === separator) {
      parts.push(current)
      current = ""
    } else {
      current += char
    }
  }
  parts.push(current)
  return parts
}

const attributeProblem = (pair: string): string | undefined => {
  const equals = pair.indexOf("=")
  if (equals < 0) return `has ${JSON.stringify(pair.trim())} where attr=value belongs`
  if (!attributeType.test(pair.slice(0, equals))) return `has ${JSON.stringify(pair.slice(0, equals).trim())}, not an attribute name`
  if (!attributeValue.test(pair.slice(equals + 1))) return `has ${JSON.stringify(pair.trim())}, whose value is empty or needs escaping`
  return undefined
}

/** `undefined` for a DN, else why it is not one (a few words, starting lowercase). */
export const check = (dn: string): string | undefined => {
  if (dn.trim() === "") return "is empty"
  for (const rdn of split(dn, ",")) {
    for (const pair of split(rdn, "+")) {
      const problem = attributeProblem(pair)
      if (problem !== undefined) return `is not a DN such as dc=example,dc=org: it ${problem}`
    }
  }
  return undefined
}
