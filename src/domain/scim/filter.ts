import { ScimError } from '../../errors.ts';

/**
 * SCIM filters and PATCH paths (RFC 7644 §3.4.2.2 and §3.5.2), read by a tokenizer and a recursive
 * descent parser into a small syntax tree. Nothing here knows SQL: db/queries/scim.ts compiles the
 * tree into a Kysely condition over the attributes it maps, and patch.ts evaluates it over a
 * resource in memory. A filter that does not parse is the client's mistake, answered as a 400
 * with scimType invalidFilter (invalidPath for a PATCH path), never as a server error.
 *
 * Precedence follows the RFC: `not` binds tightest, then `and`, then `or`; parentheses group.
 * Keywords and operators are read without regard to case; attribute names are kept as written and
 * compared without regard to case by whoever resolves them.
 */

export const compareOperators = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le'] as const;
export type CompareOperator = (typeof compareOperators)[number];

export type FilterValue = string | number | boolean | null;

/** An attribute as a filter or a path names it: an optional schema URN, the attribute, a sub-attribute. */
export interface AttributePath {
  readonly schema: string | null;
  readonly attribute: string;
  readonly subAttribute: string | null;
}

export type Filter =
  | { readonly kind: 'compare'; readonly path: AttributePath; readonly operator: CompareOperator; readonly value: FilterValue }
  | { readonly kind: 'present'; readonly path: AttributePath }
  | { readonly kind: 'and' | 'or'; readonly left: Filter; readonly right: Filter }
  | { readonly kind: 'not'; readonly filter: Filter }
  /** `emails[type eq "work"]`: some value of a multi-valued attribute matches the inner filter, whose paths are its sub-attributes. */
  | { readonly kind: 'valuePath'; readonly path: AttributePath; readonly filter: Filter };

/** A PATCH operation's target: an attribute, maybe narrowed to the values a filter picks, maybe one sub-attribute of those. */
export interface PatchPath {
  readonly path: AttributePath;
  readonly valueFilter: Filter | null;
  readonly subAttribute: string | null;
}

/** Long enough for any real filter; a longer one is refused before it costs anything. */
const maxFilterLength = 4000;
/** Nesting deeper than this is an attack on the parser's stack, not a question. */
const maxDepth = 32;

type Token =
  | { readonly type: '(' | ')' | '[' | ']'; readonly at: number }
  | { readonly type: 'word'; readonly text: string; readonly at: number }
  | { readonly type: 'string'; readonly value: string; readonly at: number }
  | { readonly type: 'number'; readonly value: number; readonly at: number };

const wordPattern = /[A-Za-z0-9_:.$-]+/y;
// eslint-disable-next-line no-control-regex -- JSON strings forbid raw control characters, which is what this refuses
const stringPattern = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;
const numberPattern = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_:.$-])/y;

function tokenize(text: string, scimType: 'invalidFilter' | 'invalidPath'): Token[] {
  const fail = (message: string) => new ScimError(scimType, message);
  if (text.length > maxFilterLength) throw fail(`a ${scimType === 'invalidFilter' ? 'filter' : 'path'} has at most ${maxFilterLength} characters`);
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    const char = text[at]!;
    if (char === ' ' || char === '\t' || char === '\n' || char === '\r') {
      at += 1;
    } else if (char === '(' || char === ')' || char === '[' || char === ']') {
      tokens.push({ type: char, at });
      at += 1;
    } else if (char === '"') {
      stringPattern.lastIndex = at;
      const match = stringPattern.exec(text);
      if (!match) throw fail(`the string that starts at character ${at + 1} is not closed or has a bad escape`);
      const value = JSON.parse(match[0]) as string;
      // PostgreSQL text cannot hold U+0000, and no attribute value contains one.
      if (value.includes('\u0000')) throw fail('a filter value cannot contain the NUL character (U+0000)');
      tokens.push({ type: 'string', value, at });
      at += match[0].length;
    } else {
      numberPattern.lastIndex = at;
      const number = numberPattern.exec(text);
      if (number) {
        tokens.push({ type: 'number', value: Number(number[0]), at });
        at += number[0].length;
        continue;
      }
      wordPattern.lastIndex = at;
      const word = wordPattern.exec(text);
      if (!word) throw fail(`unexpected character ${JSON.stringify(char)} at character ${at + 1}`);
      tokens.push({ type: 'word', text: word[0], at });
      at += word[0].length;
    }
  }
  return tokens;
}

/** ATTRNAME of RFC 7643 §2.1, and the one sub-attribute name outside it, $ref. */
const attributeName = /^(?:[A-Za-z][A-Za-z0-9_$-]*|\$ref)$/;

/** Reads `urn:…:User:name.givenName`, `name.givenName` or `userName` into its parts. */
export function parseAttributePath(text: string, scimType: 'invalidFilter' | 'invalidPath' = 'invalidFilter'): AttributePath {
  let schema: string | null = null;
  let rest = text;
  if (/^urn:/i.test(text)) {
    const colon = text.lastIndexOf(':');
    schema = text.slice(0, colon);
    rest = text.slice(colon + 1);
  }
  const parts = rest.split('.');
  if (parts.length > 2 || parts.some((part) => !attributeName.test(part))) {
    throw new ScimError(scimType, `"${text}" is not an attribute path (such as userName, name.givenName or a schema URN followed by ":attribute")`);
  }
  return { schema, attribute: parts[0]!, subAttribute: parts[1] ?? null };
}

class Parser {
  private position = 0;
  private depth = 0;
  private readonly tokens: readonly Token[];
  private readonly scimType: 'invalidFilter' | 'invalidPath';

  constructor(tokens: readonly Token[], scimType: 'invalidFilter' | 'invalidPath') {
    this.tokens = tokens;
    this.scimType = scimType;
  }

  fail(message: string): ScimError {
    return new ScimError(this.scimType, message);
  }

  peek(): Token | undefined {
    return this.tokens[this.position];
  }

  next(): Token | undefined {
    const token = this.tokens[this.position];
    this.position += 1;
    return token;
  }

  atEnd(): boolean {
    return this.position >= this.tokens.length;
  }

  describe(token: Token | undefined): string {
    if (!token) return 'the end of the filter';
    if (token.type === 'word') return `"${token.text}" at character ${token.at + 1}`;
    if (token.type === 'string') return `the string ${JSON.stringify(token.value)} at character ${token.at + 1}`;
    if (token.type === 'number') return `the number ${token.value} at character ${token.at + 1}`;
    return `"${token.type}" at character ${token.at + 1}`;
  }

  isKeyword(token: Token | undefined, keyword: string): boolean {
    return token?.type === 'word' && token.text.toLowerCase() === keyword;
  }

  expect(type: '(' | ')' | '[' | ']'): void {
    const token = this.next();
    if (token?.type !== type) throw this.fail(`expected "${type}" but found ${this.describe(token)}`);
  }

  /** FILTER = term *("or" term) */
  filter(): Filter {
    this.depth += 1;
    if (this.depth > maxDepth) throw this.fail(`filters nest at most ${maxDepth} deep`);
    let left = this.conjunction();
    while (this.isKeyword(this.peek(), 'or')) {
      this.next();
      left = { kind: 'or', left, right: this.conjunction() };
    }
    this.depth -= 1;
    return left;
  }

  /** term = factor *("and" factor) */
  conjunction(): Filter {
    let left = this.factor();
    while (this.isKeyword(this.peek(), 'and')) {
      this.next();
      left = { kind: 'and', left, right: this.factor() };
    }
    return left;
  }

  /** factor = "not" "(" FILTER ")" / "(" FILTER ")" / valuePath / attrExp */
  factor(): Filter {
    const token = this.peek();
    if (this.isKeyword(token, 'not') && this.tokens[this.position + 1]?.type === '(') {
      this.next();
      this.expect('(');
      const inner = this.filter();
      this.expect(')');
      return { kind: 'not', filter: inner };
    }
    if (token?.type === '(') {
      this.next();
      const inner = this.filter();
      this.expect(')');
      return inner;
    }
    if (token?.type !== 'word') throw this.fail(`expected an attribute, "not" or "(" but found ${this.describe(token)}`);
    this.next();
    const path = parseAttributePath(token.text, this.scimType);
    if (this.peek()?.type === '[') {
      if (path.subAttribute !== null) throw this.fail(`a value filter "[…]" follows a multi-valued attribute, not the sub-attribute ${token.text}`);
      this.next();
      const inner = this.filter();
      this.expect(']');
      return { kind: 'valuePath', path, filter: inner };
    }
    return this.attributeExpression(path, token.text);
  }

  attributeExpression(path: AttributePath, written: string): Filter {
    const operatorToken = this.next();
    if (operatorToken?.type !== 'word') throw this.fail(`expected an operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr) after ${written} but found ${this.describe(operatorToken)}`);
    const operator = operatorToken.text.toLowerCase();
    if (operator === 'pr') return { kind: 'present', path };
    if (!(compareOperators as readonly string[]).includes(operator)) {
      throw this.fail(`"${operatorToken.text}" is not a SCIM operator; use eq, ne, co, sw, ew, gt, lt, ge, le or pr`);
    }
    const valueToken = this.next();
    let value: FilterValue;
    if (valueToken?.type === 'string' || valueToken?.type === 'number') value = valueToken.value;
    else if (this.isKeyword(valueToken, 'true')) value = true;
    else if (this.isKeyword(valueToken, 'false')) value = false;
    else if (this.isKeyword(valueToken, 'null')) value = null;
    else throw this.fail(`expected a value ("a string", a number, true, false or null) after ${written} ${operatorToken.text} but found ${this.describe(valueToken)}`);
    return { kind: 'compare', path, operator: operator as CompareOperator, value };
  }
}

/** Parses the `filter` query parameter (or a POST /.search body's filter). */
export function parseFilter(text: string): Filter {
  const parser = new Parser(tokenize(text, 'invalidFilter'), 'invalidFilter');
  if (parser.atEnd()) throw parser.fail('the filter is empty');
  const filter = parser.filter();
  if (!parser.atEnd()) throw parser.fail(`unexpected ${parser.describe(parser.peek())}; join expressions with "and" or "or"`);
  return filter;
}

/** Parses a PATCH operation's path: `members`, `name.givenName`, `emails[type eq "work"].value`, `urn:…:User:department`. */
export function parsePatchPath(text: string): PatchPath {
  const parser = new Parser(tokenize(text, 'invalidPath'), 'invalidPath');
  const first = parser.next();
  if (first?.type !== 'word') throw parser.fail(`the path must start with an attribute name, not ${parser.describe(first)}`);
  const path = parseAttributePath(first.text, 'invalidPath');
  if (parser.atEnd()) return { path, valueFilter: null, subAttribute: null };
  if (path.subAttribute !== null) throw parser.fail(`a value filter "[…]" follows a multi-valued attribute, not the sub-attribute ${first.text}`);
  parser.expect('[');
  const valueFilter = parser.filter();
  parser.expect(']');
  if (parser.atEnd()) return { path, valueFilter, subAttribute: null };
  // After "]" comes ".sub": the tokenizer reads it as one word starting with a dot.
  const rest = parser.next();
  const sub = rest?.type === 'word' ? /^\.([A-Za-z][A-Za-z0-9_$-]*|\$ref)$/.exec(rest.text) : null;
  if (!sub || !parser.atEnd()) throw parser.fail(`after the value filter only ".subAttribute" may follow, not ${parser.describe(rest)}`);
  return { path, valueFilter, subAttribute: sub[1]! };
}

/** The attribute's name for messages: as the client wrote it. */
export function describePath(path: AttributePath): string {
  return `${path.schema === null ? '' : `${path.schema}:`}${path.attribute}${path.subAttribute === null ? '' : `.${path.subAttribute}`}`;
}
