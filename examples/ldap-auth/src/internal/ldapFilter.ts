/**
 * The user search filter: a template such as `(&(objectClass=inetOrgPerson)(uid={user}))` where every `{user}` is
 * replaced by the user name escaped as an RFC 4515 assertion value, so `*`, `(`, `)`, `\` and NUL match literally.
 */
import * as Ldapts from "ldapts"

export const placeholder = "{user}"

/** Throws, naming the option, when the template has no placeholder or is not a filter. */
export const validateTemplate = (template: string): void => {
  if (!template.includes(placeholder)) {
    throw new Error(`userFilter must contain ${placeholder}, got ${JSON.stringify(template)}`)
  }
  try {
    Ldapts.FilterParser.parseString(render(template, "x"))
  } catch (cause) {
    throw new Error(`userFilter is not an LDAP filter: ${JSON.stringify(template)}`, { cause })
  }
}

export const render = (template: string, user: string): string =>
  template.replaceAll(placeholder, Ldapts.Filter.escape(user))
