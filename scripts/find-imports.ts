/**
 * The import scanner of `scripts/check-layers.ts`: finds the module specifiers a TypeScript or
 * JavaScript file names. A small scanner rather than the TypeScript parser, so that the check
 * needs nothing beyond Node. It knows comments, strings, templates (with `${...}` code inside)
 * and regex literals well enough that an import written in a comment or a pattern is not
 * counted; it is not a full parser, and a `/` right after `)` is always taken as a division.
 */

/** ImportRef is one module specifier a file names, with the line the specifier is on. */
export interface ImportRef {
  specifier: string;
  line: number;
}

/**
 * findImports lists the module specifiers a source file names in any import form, each with the
 * line of its specifier. Comments, template text and regex literals are blanked out first, so an
 * import written in a doc comment or a string pattern is not mistaken for a real one.
 */
export function findImports(text: string): ImportRef[] {
  const { code, strings } = blankNonCode(text);
  const refs: ImportRef[] = [];
  let line = 1;
  let counted = 0;
  for (const s of strings) {
    const before = code.slice(Math.max(0, s.start - 200), s.start);
    const isStatic = /(?<![\w$.])(?:from|import)\s*$/.test(before);
    const isDynamic =
      /(?<![\w$.])import\s*\(\s*$/.test(before) && /^\s*[,)]/.test(code.slice(s.end, s.end + 200));
    if (!isStatic && !isDynamic) continue;
    for (; counted < s.start; counted++) if (text[counted] === '\n') line++;
    refs.push({ specifier: text.slice(s.start + 1, s.end - 1), line });
  }
  return refs;
}

/** Words after which a `/` starts a regex literal rather than a division. */
const REGEX_AFTER_WORD = new Set([
  ...['return', 'typeof', 'instanceof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void'],
  ...['throw', 'yield', 'await'],
]);

/** Where a quoted string stands in the text: from its opening quote to just after its closing one. */
interface Span {
  start: number;
  end: number;
}

/**
 * The text with comments and the insides of strings, templates and regex literals turned to
 * spaces (newlines kept, so offsets and lines still match), and where each quoted string is.
 * A `${...}` inside a template is code again, and may hold strings, templates and regexes.
 */
function blankNonCode(text: string): { code: string; strings: Span[] } {
  const out = text.split('');
  const strings: Span[] = [];
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  // One entry per open `${`: how many `{` are open inside it, so its own `}` is recognised.
  const interpolations: number[] = [];
  let last = -1; // the last code character that is not whitespace: it tells a regex from a division
  // A shebang line is not code, and its slashes would read as a regex.
  let i = text.startsWith('#!') ? text.indexOf('\n') : 0;
  if (i < 0) i = text.length;
  blank(0, i);
  // Scans template text from `from` to the closing backtick or the next `${`, and resumes after it.
  const template = (from: number) => {
    let j = from;
    while (j < text.length && text[j] !== '`' && !(text[j] === '$' && text[j + 1] === '{')) {
      j += text[j] === '\\' ? 2 : 1;
    }
    blank(from, Math.min(j, text.length));
    if (text[j] !== '$') {
      last = j;
      return j + 1;
    }
    interpolations.push(0);
    last = j + 1; // the `{`, after which a `/` opens a regex
    return j + 2;
  };
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      blank(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2) < 0 ? text.length : text.indexOf('*/', i + 2) + 2;
      blank(i, end);
      i = end;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
      blank(i + 1, j);
      strings.push({ start: i, end: j + 1 });
      last = j;
      i = j + 1;
    } else if (c === '`') {
      i = template(i + 1);
    } else if (c === '}' && interpolations.length > 0 && interpolations[interpolations.length - 1] === 0) {
      interpolations.pop();
      i = template(i + 1);
    } else if (c === '/' && isRegexStart(text, last)) {
      let j = i + 1;
      let isInClass = false;
      while (j < text.length && text[j] !== '\n' && (text[j] !== '/' || isInClass)) {
        if (text[j] === '[') isInClass = true;
        if (text[j] === ']') isInClass = false;
        j += text[j] === '\\' ? 2 : 1;
      }
      blank(i + 1, j);
      last = j;
      i = j + 1;
    } else {
      if (interpolations.length > 0 && c === '{') interpolations[interpolations.length - 1]++;
      if (interpolations.length > 0 && c === '}') interpolations[interpolations.length - 1]--;
      if (c.trim() !== '') last = i;
      i++;
    }
  }
  return { code: out.join(''), strings };
}

/** Whether a `/` after the code character at `last` opens a regex: yes after an operator or a keyword. */
function isRegexStart(text: string, last: number): boolean {
  if (last < 0) return true;
  if (!/[\w$)\]'"`]/.test(text[last])) return true;
  const word = /[\w$]+$/.exec(text.slice(Math.max(0, last - 20), last + 1));
  return word !== null && REGEX_AFTER_WORD.has(word[0]);
}
