#!/usr/bin/env node
/**
 * Reads a tradeexecutor equity file (state/ID.equity.jsonl) the way a JavaScript client can, and
 * checks the conventions of docs/equity.md.
 *
 *   node tests/js/read_equity.mjs EQUITY.jsonl
 *
 * Prints one JSON line {"points": N, "first_at", "last_at", "last_equity", "peak_equity"} (the
 * snapshot's `equity` summary, recomputed from the file) and exits 0; exits 1 naming the line when the file breaks a rule;
 * exits 2 on a usage or I/O error and 3 on an internal error. No npm dependencies: Node 18+ only.
 *
 * Each line is plain JSON.parse: its only numbers are the small integers `n` and `cycle`, and
 * money is a string, read here as an exact BigInt decimal (coefficient and exponent), never as a
 * float. A last line without its newline is a write in progress and is skipped, as the
 * executor's own reader skips it.
 */

import { readFileSync } from "node:fs";

class EquityError extends Error {}

const KEYS = ["n", "at", "cycle", "equity", "cash", "positions_value"];
const DECIMAL_TEXT = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?(E[+-](0|[1-9][0-9]*))?$/;
const TIMESTAMP_TEXT = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}([0-9]{3})?Z$/;

/** A decimal string as [coefficient BigInt, exponent]: "12.50" -> [1250n, -2]. */
function parseDecimal(text) {
  const [mantissa, exponentText] = text.split("E");
  const [whole, fraction = ""] = mantissa.split(".");
  return [BigInt(whole + fraction), Number(exponentText ?? 0) - fraction.length];
}

/** Sign of a - b, exactly. */
function compare([ca, ea], [cb, eb]) {
  const exponent = Math.min(ea, eb);
  const a = ca * 10n ** BigInt(ea - exponent);
  const b = cb * 10n ** BigInt(eb - exponent);
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkLine(text, number) {
  const fail = (message) => {
    throw new EquityError(`line ${number}: ${message}`);
  };
  let point;
  try {
    point = JSON.parse(text);
  } catch (error) {
    fail(`not JSON (${error.message})`);
  }
  if (point === null || typeof point !== "object" || Array.isArray(point)) fail("not a JSON object");
  const keys = Object.keys(point);
  if (keys.join(",") !== KEYS.join(",")) fail(`members ${keys.join(", ")}, expected ${KEYS.join(", ")}`);
  if (point.n !== number) fail(`n is ${JSON.stringify(point.n)}, expected ${number}`);
  if (!Number.isSafeInteger(point.cycle) || point.cycle < 0) fail(`cycle ${JSON.stringify(point.cycle)} is not a count`);
  if (typeof point.at !== "string" || !TIMESTAMP_TEXT.test(point.at) || Number.isNaN(Date.parse(point.at))) {
    fail(`at ${JSON.stringify(point.at)} is not an ISO 8601 UTC timestamp with Z`);
  }
  for (const key of ["equity", "cash", "positions_value"]) {
    if (typeof point[key] !== "string" || !DECIMAL_TEXT.test(point[key])) {
      fail(`${key} ${JSON.stringify(point[key])} is not a decimal string`);
    }
  }
  return point;
}

function readEquity(text) {
  const lines = text.split("\n");
  lines.pop(); // after the last newline: empty, or a line still being written
  let previous = null;
  let first = null;
  let peak = null;
  let peakText = null;
  lines.forEach((line, index) => {
    const point = checkLine(line, index + 1);
    if (previous !== null && point.at < previous.at) {
      throw new EquityError(`line ${index + 1}: at ${point.at} is before the previous point's ${previous.at}`);
    }
    const equity = parseDecimal(point.equity);
    if (peak === null || compare(equity, peak) > 0) {
      peak = equity;
      peakText = point.equity;
    }
    first ??= point;
    previous = point;
  });
  return {
    points: lines.length,
    first_at: first?.at ?? null,
    last_at: previous?.at ?? null,
    last_equity: previous?.equity ?? null,
    peak_equity: peakText,
  };
}

function main(argv) {
  if (argv.length !== 1) {
    process.stderr.write("usage: node tests/js/read_equity.mjs EQUITY.jsonl\n");
    return 2;
  }
  let text;
  try {
    text = readFileSync(argv[0], "utf8");
  } catch (error) {
    process.stderr.write(`read_equity: cannot read ${argv[0]}: ${error.message}\n`);
    return 2;
  }
  try {
    process.stdout.write(JSON.stringify(readEquity(text)) + "\n");
    return 0;
  } catch (error) {
    if (!(error instanceof EquityError)) {
      process.stderr.write(`read_equity: internal error: ${error.stack}\n`);
      return 3;
    }
    process.stderr.write(`read_equity: ${argv[0]}: ${error.message}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
