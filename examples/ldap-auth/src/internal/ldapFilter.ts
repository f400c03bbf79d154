/**
 * The user search filter: a template such as `(&(objectClass=inetOrgPerson)(uid={user}))` where every `{user}` is
 * replaced by the user name escaped as an RFC 4515 assertion value, so `*`, `(`, `)`, `\` and NUL match literally.
 */
import * as Ldapts from "ldapts"

export const placeholder = "{user}"

/** `undefined` for a usable template, else why it is not one (a few words, starting lowercase). */
export const check = (template: string): string | undefined => {
  if (!template.includes(placeholder)) return `has no ${placeholder} placeholder`
  try {
    Ldapts.FilterParser.parseString(render(template, "x"))
  } catch {
    return "is not an LDAP filter (check the parentheses)"
  }
  // ldapts accepts some filters it cannot round-trip, such as a trailing unbalanced ")": count them too.
  return balanced(template) ? undefined : "has unbalanced parentheses"
}

const balanced = (template: string): boolean => {
  let depth = 0
  for (const char of template.replaceAll(/\\./g, "")) {
    if (char === "(") depth++
    if (char === ")" && --depth < 0) return false
  }
  return depth === 0
}

export const render = (template: string, user: string): string =>
  template.replaceAll(placeholder, Ldapts.Filter.escape(user))
