/**
 * The one place that writes Nix text. Callers build a small typed expression tree and
 * `printNix` turns it into stable, 2-space-indented source. The printer owns every escape:
 * a string from a registry, a tag or a header can only ever become a string literal, an
 * attribute name or comment text, never code. Names that are code (variables, function
 * arguments, `inherit` and `let` names) must be plain identifiers, or printing throws.
 */

/** A Nix expression the printer can write. */
export type NixExpr =
  | NixString
  | NixNull
  | NixBool
  | NixInt
  | NixList
  | NixAttrs
  | NixVar
  | NixApply
  | NixFunction
  | NixLet;

/** A string literal; any text but NUL and unpaired surrogates (Nix cannot hold either). */
export interface NixString {
  readonly kind: 'string';
  readonly value: string;
}

/** `null`. */
export interface NixNull {
  readonly kind: 'null';
}

/** `true` or `false`. */
export interface NixBool {
  readonly kind: 'bool';
  readonly value: boolean;
}

/** An integer; a JS safe integer, which Nix's 64-bit integers always hold. */
export interface NixInt {
  readonly kind: 'int';
  readonly value: number;
}

/** A list, printed one item a line. */
export interface NixList {
  readonly kind: 'list';
  readonly items: readonly NixExpr[];
}

/**
 * An attribute set; `inherit` names print first, then entries in the order given, and all
 * names must be unique. `rec` lets the values refer to the set's own attributes.
 */
export interface NixAttrs {
  readonly kind: 'attrs';
  readonly entries: readonly (readonly [name: string, value: NixExpr])[];
  /** `rec { ... }` rather than `{ ... }`. */
  readonly rec?: boolean;
  /** `inherit a b;`: attributes whose values are the variables of the same names in scope. */
  readonly inherit?: readonly string[];
}

/** A variable reference, such as a function argument. */
export interface NixVar {
  readonly kind: 'var';
  readonly name: string;
}

/** A call of the function bound to identifier `fn`: `fetchurl { ... }`. */
export interface NixApply {
  readonly kind: 'apply';
  readonly fn: string;
  readonly arg: NixExpr;
}

/** A function with a set pattern: `{ fetchurl, lib ? null }: body` (defaults not needed). */
export interface NixFunction {
  readonly kind: 'function';
  readonly formals: readonly string[];
  readonly body: NixExpr;
}

/** `let bindings in body`; binding names must be unique identifiers. */
export interface NixLet {
  readonly kind: 'let';
  readonly bindings: readonly (readonly [name: string, value: NixExpr])[];
  readonly body: NixExpr;
}

/** Options for `nix.attrs`. */
export interface AttrsOptions {
  /** Print `rec { ... }`. */
  readonly rec?: boolean;
  /** Names to `inherit` from the enclosing scope, printed before the entries. */
  readonly inherit?: readonly string[];
}

/** Options for `printNix`. */
export interface PrintOptions {
  /** Lines written as `# ...` comments above the expression; line breaks become spaces. */
  readonly header?: readonly string[];
}

/** Builders for `NixExpr` values, so call sites read like the Nix they produce. */
export const nix = {
  /** A string literal. */
  string: (value: string): NixString => ({ kind: 'string', value }),
  /** `null`. */
  null: { kind: 'null' } as NixNull,
  /** `true` or `false`. */
  bool: (value: boolean): NixBool => ({ kind: 'bool', value }),
  /** An integer literal. */
  int: (value: number): NixInt => ({ kind: 'int', value }),
  /** A list of expressions. */
  list: (items: readonly NixExpr[]): NixList => ({ kind: 'list', items }),
  /** An attribute set, from entries or from an object (in its key order). */
  attrs: (
    entries: Record<string, NixExpr> | NixAttrs['entries'],
    options: AttrsOptions = {},
  ): NixAttrs => ({
    kind: 'attrs',
    entries: Array.isArray(entries) ? entries : Object.entries(entries),
    ...options,
  }),
  /** A variable reference. */
  var: (name: string): NixVar => ({ kind: 'var', name }),
  /** `fn arg`. */
  apply: (fn: string, arg: NixExpr): NixApply => ({ kind: 'apply', fn, arg }),
  /** `{ formals... }: body`. */
  function: (formals: readonly string[], body: NixExpr): NixFunction => ({
    kind: 'function',
    formals,
    body,
  }),
  /** `let bindings in body`. */
  let: (bindings: NixLet['bindings'], body: NixExpr): NixLet => ({ kind: 'let', bindings, body }),
  /** A string, or `null` when the value is null: for optional fields such as a tag. */
  optionalString: (value: string | null): NixString | NixNull =>
    value === null ? nix.null : nix.string(value),
};

/**
 * Prints `expr` as Nix source ending in a newline, with optional `#` header lines. Throws an
 * `Error` for what Nix cannot express or what would not be a valid program: a NUL or unpaired
 * surrogate in a string, an invalid identifier, a non-safe integer, a repeated attribute.
 */
export function printNix(expr: NixExpr, options: PrintOptions = {}): string {
  const header = (options.header ?? []).map(printComment);

  return [...header, printExpr(expr, 0)].join('\n') + '\n';
}

// Nix's identifier grammar (lexer.l: ID), minus the keywords, which would parse as syntax.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_'-]*$/;
const KEYWORDS = new Set([
  'if',
  'then',
  'else',
  'assert',
  'with',
  'let',
  'in',
  'rec',
  'inherit',
  'or',
]);

/** Whether `name` can be written bare, as a variable or attribute name. */
export function isNixIdentifier(name: string): boolean {
  return IDENTIFIER.test(name) && !KEYWORDS.has(name);
}

/** Where an expression sits, because Nix needs parentheses around some forms in some places. */
type Position = 'top' | 'item';

function printExpr(expr: NixExpr, depth: number, position: Position = 'top'): string {
  switch (expr.kind) {
    case 'string':
      return quoteString(expr.value);
    case 'null':
      return 'null';
    case 'bool':
      return expr.value ? 'true' : 'false';
    case 'int':
      return printInt(expr.value, position);
    case 'list':
      return printList(expr, depth);
    case 'attrs':
      return printAttrs(expr, depth);
    case 'var':
      return identifier(expr.name, 'variable');
    case 'apply':
      return parenthesise(printApply(expr, depth), position);
    case 'function':
      return parenthesise(printFunction(expr, depth), position);
    case 'let':
      return parenthesise(printLet(expr, depth), position);
  }
}

// A list item or a function argument is a single "select" expression in Nix's grammar, so
// calls, functions, lets and negative numbers there need parentheses: `[ -1 ]` is a syntax
// error. A set, `rec` or not, is a select expression already: `f rec { }` needs none.
function parenthesise(text: string, position: Position): string {
  return position === 'item' ? `(${text})` : text;
}

function printInt(value: number, position: Position): string {
  if (!Number.isSafeInteger(value)) throw new Error(`Nix integer ${value} is not a safe integer`);

  return value < 0 ? parenthesise(String(value), position) : String(value);
}

function printList(list: NixList, depth: number): string {
  if (list.items.length === 0) return '[ ]';

  const pad = indent(depth + 1);
  const lines = list.items.map((item) => pad + printExpr(item, depth + 1, 'item'));

  return ['[', ...lines, `${indent(depth)}]`].join('\n');
}

function printAttrs(attrs: NixAttrs, depth: number): string {
  const open = attrs.rec === true ? 'rec {' : '{';
  const inherited = attrs.inherit ?? [];
  if (attrs.entries.length === 0 && inherited.length === 0) return `${open} }`;

  const seen = new Set<string>();
  const define = (name: string) => {
    if (seen.has(name)) throw new Error(`attribute ${quoteString(name)} is defined twice`);
    seen.add(name);
  };
  const pad = indent(depth + 1);
  const lines = attrs.entries.map(([name, value]) => {
    define(name);
    return `${pad}${attributeName(name)} = ${printExpr(value, depth + 1)};`;
  });
  // An inherited name is read as a variable, so it must be one: never quoted, never code.
  const names = inherited.map((name) => identifier(name, 'variable'));
  names.forEach(define);
  const inherit = names.length === 0 ? [] : [`${pad}inherit ${names.join(' ')};`];

  return [open, ...inherit, ...lines, `${indent(depth)}}`].join('\n');
}

// Bindings one a line, then `in` and the body back at the let's own depth, as docker2nix
// printed its layers.
function printLet(expr: NixLet, depth: number): string {
  const seen = new Set<string>();
  const pad = indent(depth + 1);
  const lines = expr.bindings.map(([name, value]) => {
    // A binding is referred to by name from the body, so it must be a plain identifier.
    identifier(name, 'let binding');
    if (seen.has(name)) throw new Error(`let binding ${name} is defined twice`);
    seen.add(name);
    return `${pad}${name} = ${printExpr(value, depth + 1)};`;
  });

  return ['let', ...lines, `${indent(depth)}in ${printExpr(expr.body, depth)}`].join('\n');
}

function printApply(apply: NixApply, depth: number): string {
  return `${identifier(apply.fn, 'function')} ${printExpr(apply.arg, depth, 'item')}`;
}

function printFunction(fn: NixFunction, depth: number): string {
  const formals = fn.formals.map((name) => identifier(name, 'function argument'));
  if (new Set(formals).size !== formals.length) throw new Error('a function argument repeats');
  const pattern = formals.length === 0 ? '{ }' : `{ ${formals.join(', ')} }`;

  // The body starts on its own line at the same depth, the layout of a callPackage file.
  return `${pattern}:\n${indent(depth)}${printExpr(fn.body, depth)}`;
}

function identifier(name: string, role: string): string {
  if (!isNixIdentifier(name)) throw new Error(`${JSON.stringify(name)} is not a Nix ${role} name`);

  return name;
}

function attributeName(name: string): string {
  return isNixIdentifier(name) ? name : quoteString(name);
}

// Inside "..." Nix treats `\` as an escape, `"` as the end and `${` as interpolation, and
// knows only \n, \r and \t as named escapes (lexer.l: unescapeStr); every other character
// stands for itself. Escaping `${` as a unit also covers `$${`, which Nix reads as a literal
// `$$` followed by `{`, so `$\${` still means the three characters `$${`.
const NEEDS_ESCAPE = /[\\"\n\r\t]|\$\{/g;
const ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '${': '\\${',
};

function quoteString(value: string): string {
  if (value.includes('\0')) throw new Error('a Nix string cannot contain a NUL character');
  // An unpaired surrogate has no UTF-8 form; writing it would silently change the text.
  if (/\p{Cs}/u.test(value)) throw new Error('a Nix string must be well-formed Unicode');

  return `"${value.replace(NEEDS_ESCAPE, (match) => ESCAPES[match]!)}"`;
}

// A `#` comment runs to the next \n or \r (lexer.l), so any line break, and every other
// control or separator character that could make an editor show a new line, becomes a space.
function printComment(text: string): string {
  const safe = text.replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, ' ').trimEnd();

  return safe === '' ? '#' : `# ${safe}`;
}

function indent(depth: number): string {
  return '  '.repeat(depth);
}
