#!/usr/bin/env node
/**
 * Reads a tradeexecutor snapshot (state/ID.json) the way a JavaScript client must, checks the
 * conventions of docs/state.md, and recomputes total equity with exact decimal arithmetic.
 *
 *   node tests/js/check_snapshot.mjs SNAPSHOT.json
 *
 * Prints one JSON line {"total_equity": "<decimal string>", "positions": N, "trades": M} and
 * exits 0; exits 1 with a message naming the JSON path when the snapshot breaks a rule; exits 2
 * on a usage or I/O error and 3 on an internal error. No npm dependencies: Node 18+ only.
 *
 * JSON.parse cannot tell `1.0` from `1` nor see an integer it has already rounded, so the file is
 * read by a small parser of our own that keeps each number's text. Decimals are BigInt
 * coefficient + exponent, and additions and products are rounded the way Python's default
 * decimal context (28 significant digits, half-even) rounds them, because that is what
 * `State.total_equity()` does: the two results are then equal to the last digit, exponent included.
 */

import { readFileSync } from "node:fs";

// --- errors and JSON paths -------------------------------------------------------------------

/** A broken rule of the snapshot; the message starts with the JSON path. */
class SnapshotError extends Error {}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function formatPath(path) {
  let text = "$";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else if (IDENTIFIER.test(part)) text += `.${part}`;
    else text += `[${JSON.stringify(part)}]`;
  }
  return text;
}

function fail(path, message) {
  throw new SnapshotError(`${formatPath(path)}: ${message}`);
}

function describe(value) {
  if (value === null) return "null";
  if (value instanceof Map) return "an object";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

// --- JSON parser that keeps number text and key order ---------------------------------------

const MAX_SAFE = 9007199254740991n;
const NUMBER_TOKEN = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const INTEGER_TEXT = /^-?(?:0|[1-9][0-9]*)$/;
const PLAIN_CHARS = /[^"\\\u0000-\u001f]*/y;
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/**
 * Objects become Maps: they keep the file's key order (a plain object would put integer-like keys
 * such as position ids first, in numeric order) and a key like "__proto__" is just a key.
 */
class JsonReader {
  constructor(text) {
    this.text = text;
    this.pos = 0;
  }

  syntax(path, message) {
    fail(path, `invalid JSON at character ${this.pos}: ${message}`);
  }

  skipSpace() {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.pos += 1;
    }
  }

  document() {
    this.skipSpace();
    const value = this.value([]);
    this.skipSpace();
    if (this.pos !== this.text.length) this.syntax([], "unexpected text after the document");
    return value;
  }

  value(path) {
    const c = this.text[this.pos];
    if (c === "{") return this.object(path);
    if (c === "[") return this.array(path);
    if (c === '"') return this.string(path);
    if (c === "t") return this.literal(path, "true", true);
    if (c === "f") return this.literal(path, "false", false);
    if (c === "n") return this.literal(path, "null", null);
    return this.number(path);
  }

  literal(path, word, value) {
    if (!this.text.startsWith(word, this.pos)) this.syntax(path, "unexpected token");
    this.pos += word.length;
    return value;
  }

  number(path) {
    NUMBER_TOKEN.lastIndex = this.pos;
    const match = NUMBER_TOKEN.exec(this.text);
    if (match === null) this.syntax(path, "expected a value (NaN and Infinity are not JSON)");
    const token = match[0];
    this.pos += token.length;
    if (!INTEGER_TEXT.test(token)) {
      fail(path, `number ${token} is not an integer: floats are not allowed, decimals are strings`);
    }
    if (token === "-0") fail(path, "number -0 is not allowed (write 0)");
    const magnitude = BigInt(token.startsWith("-") ? token.slice(1) : token);
    if (magnitude > MAX_SAFE) {
      fail(path, `integer ${token} is not a safe integer (|n| must be below 2^53)`);
    }
    return Number(token);
  }

  string(path) {
    const text = this.text;
    this.pos += 1;
    let out = "";
    for (;;) {
      PLAIN_CHARS.lastIndex = this.pos;
      const run = PLAIN_CHARS.exec(text)[0];
      out += run;
      this.pos += run.length;
      if (this.pos >= text.length) this.syntax(path, "unterminated string");
      const c = text[this.pos];
      if (c === '"') {
        this.pos += 1;
        return out;
      }
      if (c !== "\\") this.syntax(path, "control character in a string");
      const e = text[this.pos + 1];
      if (e === "u") {
        const hex = text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.syntax(path, "bad \\u escape");
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
      } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
        out += ESCAPES[e];
        this.pos += 2;
      } else {
        this.syntax(path, "bad escape in a string");
      }
    }
  }

  array(path) {
    this.pos += 1;
    const items = [];
    this.skipSpace();
    if (this.text[this.pos] === "]") {
      this.pos += 1;
      return items;
    }
    for (;;) {
      this.skipSpace();
      items.push(this.value([...path, items.length]));
      this.skipSpace();
      const c = this.text[this.pos];
      this.pos += 1;
      if (c === "]") return items;
      if (c !== ",") this.syntax(path, "expected , or ] in an array");
    }
  }

  object(path) {
    this.pos += 1;
    const map = new Map();
    this.skipSpace();
    if (this.text[this.pos] === "}") {
      this.pos += 1;
      return map;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] !== '"') this.syntax(path, "expected a string key");
      const key = this.string(path);
      if (map.has(key)) fail([...path, key], "duplicate key");
      this.skipSpace();
      if (this.text[this.pos] !== ":") this.syntax(path, "expected : after a key");
      this.pos += 1;
      this.skipSpace();
      map.set(key, this.value([...path, key]));
      this.skipSpace();
      const c = this.text[this.pos];
      this.pos += 1;
      if (c === "}") return map;
      if (c !== ",") this.syntax(path, "expected , or } in an object");
    }
  }
}

// --- which fields hold decimals and timestamps -------------------------------------------------

// Python's str(Decimal): plain or exponent form, "-0" allowed (same pattern as the schema's).
const DECIMAL_TEXT = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?(E[+-](0|[1-9][0-9]*))?$/;
// values.format_time: milliseconds, or 6 digits when there are microseconds; always Z.
const TIMESTAMP_TEXT =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.[0-9]{3}(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})?Z$/;

const DECIMAL = "decimal";
const TIMESTAMP = "timestamp";
const OPTIONAL_TIMESTAMP = "timestamp or null";
const OPTIONAL_DECIMAL = "decimal or null";
// A rule that also accepts null (an object member such as equity.last before the first point).
const NULLABLE = Symbol("nullable");
const nullable = (rule) => ({ ...rule, [NULLABLE]: true });

// A tree of the snapshot's layout: leaves name the kind of value, "*" stands for any map key or
// array index. Fields missing from the file are the schema's business, not this table's.
const FILL_FIELDS = { 0: DECIMAL, 1: DECIMAL, 2: DECIMAL, 4: TIMESTAMP };
const TRADE_FIELDS = {
  qty: DECIMAL,
  limit: DECIMAL,
  planned_at: TIMESTAMP,
  updated_at: TIMESTAMP,
  expires_at: TIMESTAMP,
  fills: { "*": FILL_FIELDS },
};
const POSITION_FIELDS = {
  opened_at: TIMESTAMP,
  closed_at: TIMESTAMP,
  qty: DECIMAL,
  avg_price: DECIMAL,
  realised_pnl: DECIMAL,
  fees: DECIMAL,
  funding: DECIMAL,
  mark_price: DECIMAL,
  trades: { "*": TRADE_FIELDS },
};
const FIELDS = {
  created_at: OPTIONAL_TIMESTAMP,
  last_prices: { "*": DECIMAL },
  first_prices: { "*": DECIMAL },
  portfolio: {
    open_positions: { "*": POSITION_FIELDS },
    closed_positions: { "*": POSITION_FIELDS },
    frozen_positions: { "*": POSITION_FIELDS },
    reserves: { "*": DECIMAL },
    balance_updates: { "*": { amount: DECIMAL, at: TIMESTAMP } },
  },
  equity: {
    first_at: OPTIONAL_TIMESTAMP,
    last: nullable({ at: TIMESTAMP, equity: DECIMAL, cash: DECIMAL, positions_value: DECIMAL }),
    peak_equity: OPTIONAL_DECIMAL,
    max_drawdown: DECIMAL,
  },
  uptime: { runs: { "*": { started_at: TIMESTAMP, last_cycle_at: OPTIONAL_TIMESTAMP } } },
  refusals: { recent: { "*": { at: TIMESTAMP } } },
};

function isTimestamp(text) {
  const m = TIMESTAMP_TEXT.exec(text);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year); // Date.UTC maps years 0..99 to 1900..1999
  return (
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    date.getUTCHours() === hour &&
    date.getUTCMinutes() === minute &&
    date.getUTCSeconds() === second
  );
}

function checkLeaf(value, kind, path) {
  if ((kind === OPTIONAL_TIMESTAMP || kind === OPTIONAL_DECIMAL) && value === null) return;
  if (kind === DECIMAL || kind === OPTIONAL_DECIMAL) {
    if (typeof value !== "string" || !DECIMAL_TEXT.test(value)) {
      fail(path, `expected a decimal string such as "12.5" or "1E-8", got ${describe(value)}`);
    }
  } else if (typeof value !== "string" || !isTimestamp(value)) {
    fail(path, `expected an ISO 8601 UTC timestamp such as "2026-01-01T00:00:00.000Z", got ${describe(value)}`);
  }
}

function checkFields(value, rule, path) {
  if (typeof rule === "string") {
    checkLeaf(value, rule, path);
    return;
  }
  if (value === null && rule[NULLABLE]) return;
  const ruleFor = (key) => (Object.hasOwn(rule, key) ? rule[key] : rule["*"]);
  if (value instanceof Map) {
    for (const [key, child] of value) {
      const sub = ruleFor(key);
      if (sub !== undefined) checkFields(child, sub, [...path, key]);
    }
  } else if (Array.isArray(value)) {
    value.forEach((child, index) => {
      const sub = ruleFor(String(index));
      if (sub !== undefined) checkFields(child, sub, [...path, index]);
    });
  } else {
    fail(path, `expected an object or array, got ${describe(value)}`);
  }
}

// --- exact decimals ------------------------------------------------------------------------------

const PRECISION = 28; // Python's default decimal context, which State.total_equity() runs in
const PRECISION_LIMIT = 10n ** BigInt(PRECISION);

/** A decimal as Python holds it: sign (zero keeps one too), BigInt coefficient, exponent. */
class Dec {
  constructor(negative, coefficient, exponent) {
    this.negative = negative;
    this.coefficient = coefficient;
    this.exponent = exponent;
  }

  static parse(text, path) {
    const m = typeof text === "string" ? DECIMAL_TEXT.exec(text) : null;
    if (m === null) fail(path, `expected a decimal string, got ${describe(text)}`);
    const fraction = m[2] === undefined ? "" : m[2].slice(1);
    const exponent = (m[3] === undefined ? 0 : Number(m[3].slice(1))) - fraction.length;
    return new Dec(text.startsWith("-"), BigInt(m[1] + fraction), exponent);
  }

  static fromInt(n) {
    return new Dec(n < 0, BigInt(Math.abs(n)), 0);
  }

  /** Round to PRECISION significant digits, half to even, as decimal's context does. */
  static rounded(negative, coefficient, exponent) {
    const digits = coefficient.toString().length;
    if (digits <= PRECISION) return new Dec(negative, coefficient, exponent);
    const drop = digits - PRECISION;
    const divisor = 10n ** BigInt(drop);
    let kept = coefficient / divisor;
    const rest = coefficient % divisor;
    const half = divisor / 2n;
    if (rest > half || (rest === half && kept % 2n === 1n)) kept += 1n;
    let newExponent = exponent + drop;
    if (kept === PRECISION_LIMIT) {
      kept /= 10n;
      newExponent += 1;
    }
    return new Dec(negative, kept, newExponent);
  }

  signed() {
    return this.negative ? -this.coefficient : this.coefficient;
  }

  negate() {
    return new Dec(!this.negative, this.coefficient, this.exponent);
  }

  add(other) {
    const exponent = Math.min(this.exponent, other.exponent);
    const sum =
      this.signed() * 10n ** BigInt(this.exponent - exponent) +
      other.signed() * 10n ** BigInt(other.exponent - exponent);
    // An exact zero is positive unless both operands are negative (any rounding but floor).
    const negative = sum === 0n ? this.negative && other.negative : sum < 0n;
    return Dec.rounded(negative, sum < 0n ? -sum : sum, exponent);
  }

  sub(other) {
    return this.add(other.negate());
  }

  mul(other) {
    return Dec.rounded(
      this.negative !== other.negative,
      this.coefficient * other.coefficient,
      this.exponent + other.exponent,
    );
  }

  isZero() {
    return this.coefficient === 0n;
  }

  /** Python's str(Decimal) (to-scientific-string), so results compare as text too. */
  toString() {
    const digits = this.coefficient.toString();
    const leftDigits = this.exponent + digits.length;
    const dotPlace = this.exponent <= 0 && leftDigits > -6 ? leftDigits : 1;
    let integerPart;
    let fractionPart;
    if (dotPlace <= 0) {
      integerPart = "0";
      fractionPart = "." + "0".repeat(-dotPlace) + digits;
    } else if (dotPlace >= digits.length) {
      integerPart = digits + "0".repeat(dotPlace - digits.length);
      fractionPart = "";
    } else {
      integerPart = digits.slice(0, dotPlace);
      fractionPart = "." + digits.slice(dotPlace);
    }
    const shift = leftDigits - dotPlace;
    const exponentPart = shift === 0 ? "" : `E${shift > 0 ? "+" : "-"}${Math.abs(shift)}`;
    return (this.negative ? "-" : "") + integerPart + fractionPart + exponentPart;
  }
}

const ZERO = new Dec(false, 0n, 0);

// --- equity ----------------------------------------------------------------------------------------

function need(map, key, path, type) {
  if (!(map instanceof Map)) fail(path, `expected an object, got ${describe(map)}`);
  if (!map.has(key)) fail([...path, key], "missing");
  const value = map.get(key);
  const ok =
    type === "object" ? value instanceof Map : type === "array" ? Array.isArray(value) : typeof value === type;
  if (!ok) fail([...path, key], `expected ${type}, got ${describe(value)}`);
  return value;
}

/** Registry entries carry their id; it must be the key they are filed under. */
function checkRegistryKeys(root) {
  for (const [key, asset] of need(root, "assets", [], "object")) {
    const id = need(asset, "id", ["assets", key], "string");
    if (id !== key) fail(["assets", key, "id"], `id ${JSON.stringify(id)} differs from its key`);
  }
  for (const [key, pair] of need(root, "pairs", [], "object")) {
    const id = need(pair, "id", ["pairs", key], "number");
    if (String(id) !== key) fail(["pairs", key, "id"], `id ${id} differs from its key`);
  }
}

/** Position.value: what a live position adds to equity, in the quote asset. */
function positionValue(position, pairs, path) {
  const pairId = need(position, "pair_id", path, "number");
  const pair = pairs.get(String(pairId));
  if (pair === undefined) fail([...path, "pair_id"], `pair ${pairId} is not in pairs`);
  const kind = need(pair, "kind", ["pairs", String(pairId)], "string");
  const direction = need(position, "direction", path, "string");
  if (direction !== "long" && direction !== "short") fail([...path, "direction"], `unknown direction ${direction}`);
  if (position.has("funding") !== (kind === "perpetual")) {
    fail([...path, "funding"], `funding must be present exactly on perpetual positions (pair ${pairId} is ${kind})`);
  }
  const quantity = Dec.parse(need(position, "qty", path, "string"), [...path, "qty"]);
  const average = Dec.parse(need(position, "avg_price", path, "string"), [...path, "avg_price"]);
  const mark = position.has("mark_price") ? Dec.parse(position.get("mark_price"), [...path, "mark_price"]) : null;
  if (kind === "spot") {
    return quantity.mul(mark ?? average);
  }
  if (kind === "perpetual") {
    if (mark === null || quantity.isZero()) return ZERO;
    return mark.sub(average).mul(quantity).mul(Dec.fromInt(direction === "long" ? 1 : -1));
  }
  return fail(["pairs", String(pairId), "kind"], `unknown pair kind ${kind}`);
}

/**
 * State.total_equity(): cash in the reserve currency + the value of open and frozen positions,
 * summed in the file's order (Python's dict order) starting from zero, then added to cash.
 */
function totalEquity(root) {
  const reserveCurrency = need(root, "reserve_currency", [], "string");
  const portfolio = need(root, "portfolio", [], "object");
  const reserves = need(portfolio, "reserves", ["portfolio"], "object");
  const cash = reserves.has(reserveCurrency)
    ? Dec.parse(reserves.get(reserveCurrency), ["portfolio", "reserves", reserveCurrency])
    : ZERO;
  const pairs = need(root, "pairs", [], "object");
  let positionsValue = ZERO;
  for (const mapName of ["open_positions", "frozen_positions"]) {
    for (const [key, position] of need(portfolio, mapName, ["portfolio"], "object")) {
      const path = ["portfolio", mapName, key];
      if (!(position instanceof Map)) fail(path, `expected an object, got ${describe(position)}`);
      positionsValue = positionsValue.add(positionValue(position, pairs, path));
    }
  }
  return cash.add(positionsValue);
}

function counts(root) {
  const portfolio = root.get("portfolio");
  let positions = 0;
  let trades = 0;
  for (const mapName of ["open_positions", "closed_positions", "frozen_positions"]) {
    for (const [key, position] of need(portfolio, mapName, ["portfolio"], "object")) {
      positions += 1;
      trades += need(position, "trades", ["portfolio", mapName, key], "object").size;
    }
  }
  return { positions, trades };
}

// --- main ----------------------------------------------------------------------------------------

function check(text) {
  const root = new JsonReader(text).document();
  if (!(root instanceof Map)) fail([], `expected an object, got ${describe(root)}`);
  checkFields(root, FIELDS, []);
  checkRegistryKeys(root);
  const equity = totalEquity(root);
  return { total_equity: equity.toString(), ...counts(root) };
}

function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write("usage: node tests/js/check_snapshot.mjs SNAPSHOT.json\n");
    return 2;
  }
  let text;
  try {
    text = readFileSync(argv[0], "utf8");
  } catch (error) {
    process.stderr.write(`check_snapshot: cannot read ${argv[0]}: ${error.message}\n`);
    return 2;
  }
  try {
    process.stdout.write(JSON.stringify(check(text)) + "\n");
    return 0;
  } catch (error) {
    if (!(error instanceof SnapshotError)) {
      process.stderr.write(`check_snapshot: internal error: ${error.stack}\n`);
      return 3;
    }
    process.stderr.write(`check_snapshot: ${argv[0]}: ${error.message}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
