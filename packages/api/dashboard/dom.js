// Building DOM safely: text always goes in as text, never as HTML (task data comes from outside).
// Styles go through the CSSOM, never a style attribute, so the page's CSP can forbid inline styles.

const SVG = 'http://www.w3.org/2000/svg';

function build(element, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (name === 'style') for (const [property, v] of Object.entries(value)) element.style.setProperty(property, v);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** h('td', {class: 'num'}, 'text', childNode, …) */
export const h = (tag, attributes = {}, ...children) => build(document.createElement(tag), attributes, children);

/** The same for SVG elements. */
export const s = (tag, attributes = {}, ...children) => build(document.createElementNS(SVG, tag), attributes, children);

/** A table with a header row; rows are arrays of cells (strings or nodes), or {cells, class}. */
export function table(headers, rows, empty = 'nothing here') {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((header) => h('th', { scope: 'col' }, header)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((row) => {
        const { cells, ...attributes } = Array.isArray(row) ? { cells: row } : row;
        return h(
          'tr',
          attributes,
          cells.map((cell) => h('td', {}, cell)),
        );
      }),
    ),
  );
}

export function replace(container, ...nodes) {
  container.replaceChildren(...nodes.flat(Infinity).filter(Boolean));
}
