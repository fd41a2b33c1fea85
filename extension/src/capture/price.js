/**
 * Price text -> number. Handles "1.234,56", "1,234.56", "119,01 €", "1 234,56", "1'234.50",
 * "23.450" (thousands group) and plain numbers. Returns null when no sane number is found.
 */

import { currencyDigits } from './intl.js';

/** Currencies written with three decimals (Intl: KWD, BHD, OMR, JOD, TND, LYD): "1.250" there is one and a quarter. */
export const threeDecimals = (code) => /^[A-Z]{3}$/.test(code || '') && currencyDigits(code, 'en') === 3;
const NBSP = /[\u00a0\u202f\u2009\u2007\s]/g;

/** Decide what "." or "," means when only one of them appears once. */
function singleSeparator(intPart, frac, threeDecimals) {
  if (frac.length === 3 && !threeDecimals) {
    // "1.234" / "1,234" / "$24.990": a thousands group ("0,125" stays a fraction).
    if (intPart === '0' || intPart === '') return Number(`0.${frac}`);
    return Number(intPart + frac);
  }
  return Number(`${intPart}.${frac}`);
}

/**
 * Parse a price. `currency` (ISO code) tells whether three decimals are normal (KWD, BHD...).
 * @param {string|number|null|undefined} raw
 * @param {{currency?: string}} [opts]
 * @returns {number|null}
 */
export function parsePrice(raw, opts = {}) {
  if (raw === null || raw === undefined) return null;
  if (typeof raw === 'number') return Number.isFinite(raw) && raw >= 0 ? raw : null;
  let s = String(raw).slice(0, 200).replace(NBSP, ' ').trim();
  if (!s) return null;
  // Take the first run that looks like a number (digits with separators).
  const m = s.match(/\d[\d' .,]*\d|\d/);
  if (!m) return null;
  let num = m[0].replace(/ (?=\d{3}(\D|$))/g, '').replace(/'/g, '').replace(/ /g, '');
  // ",-" / ".-" suffixes ("49,-") are handled since the regex stops at the last digit.
  const dots = (num.match(/\./g) || []).length;
  const commas = (num.match(/,/g) || []).length;
  let value;
  if (dots && commas) {
    const lastDot = num.lastIndexOf('.');
    const lastComma = num.lastIndexOf(',');
    if (lastComma > lastDot) value = Number(num.replace(/\./g, '').replace(',', '.'));
    else value = Number(num.replace(/,/g, ''));
  } else if (dots + commas === 0) {
    value = Number(num);
  } else {
    const sep = dots ? '.' : ',';
    const parts = num.split(sep);
    if (parts.length > 2) {
      // "1.234.567" or "1,234,567": groups of three -> thousands separators.
      value = Number(parts.join(''));
    } else {
      value = singleSeparator(parts[0], parts[1], threeDecimals(opts.currency));
    }
  }
  if (!Number.isFinite(value) || value < 0) return null;
  return Math.round(value * 100) / 100;
}

