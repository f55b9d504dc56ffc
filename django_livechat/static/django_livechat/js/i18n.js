/**
 * Translated strings for django-livechat's ES modules. No text lives in the JS: each template
 * renders its strings, already translated, as `data-i18n-<name>` attributes of the root element
 * the script mounts on, with Django's `%(key)s` placeholders, filled here.
 */

/**
 * Fill `%(key)s` placeholders; a missing value fills in "".
 * @param {string} template
 * @param {Record<string, string|number>} [values]
 * @returns {string}
 */
export function fill(template, values = {}) {
  return String(template).replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
}

/**
 * The string of `data-i18n-<name>` on `root`, placeholders filled.
 * @param {Pick<Element, "getAttribute">} root
 * @param {string} name
 * @param {Record<string, string|number>} [values]
 * @param {string} [fallback] when the attribute is missing (an older overridden template)
 * @returns {string}
 */
export function translate(root, name, values = {}, fallback = name) {
  return fill(root.getAttribute(`data-i18n-${name}`) ?? fallback, values);
}
