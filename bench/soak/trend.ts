/**
 * Trends over a soak: a least-squares line through (minutes, value) points, and what it says about
 * growth over the measured window.
 */

export interface Trend {
  /** Points the line was fitted to. */
  points: number;
  /** Change per minute (the line's slope). */
  per_min: number | null;
  /** The line's value at the first and the last point of the window. */
  fitted_start: number | null;
  fitted_end: number | null;
  /** fitted_end − fitted_start, and that as a percent of fitted_start (null when it is 0). */
  growth: number | null;
  growth_pct: number | null;
  /** Half-width of the slope's 95 % confidence interval (Student's t; null below 3 points). */
  per_min_ci95: number | null;
  /** How much of the variance the line explains (0…1; null when the values are constant). */
  r2: number | null;
  /** Raw values over the window. */
  first: number | null;
  last: number | null;
  min: number | null;
  max: number | null;
}

/**
 * Fits `y = a + b·x` by least squares, `x` in minutes. Points whose value is null (not measured)
 * are left out; fewer than two points give null figures.
 */
export function fitTrend(points: readonly { minutes: number; value: number | null }[]): Trend {
  const kept = points.filter(
    (p): p is { minutes: number; value: number } => p.value !== null && Number.isFinite(p.value),
  );
  const values = kept.map((p) => p.value);
  const raw = {
    first: values[0] ?? null,
    last: values.at(-1) ?? null,
    min: values.length > 0 ? Math.min(...values) : null,
    max: values.length > 0 ? Math.max(...values) : null,
  };
  const n = kept.length;
  const empty = {
    points: n,
    per_min: null,
    fitted_start: null,
    fitted_end: null,
    growth: null,
    growth_pct: null,
    per_min_ci95: null,
    r2: null,
    ...raw,
  };
  if (n < 2) return empty;
  const meanX = kept.reduce((sum, p) => sum + p.minutes, 0) / n;
  const meanY = kept.reduce((sum, p) => sum + p.value, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const p of kept) {
    sxx += (p.minutes - meanX) ** 2;
    sxy += (p.minutes - meanX) * (p.value - meanY);
    syy += (p.value - meanY) ** 2;
  }
  if (sxx === 0) return empty;
  const slope = sxy / sxx;
  const at = (x: number) => meanY + slope * (x - meanX);
  const start = at((kept[0] as { minutes: number }).minutes);
  const end = at((kept.at(-1) as { minutes: number }).minutes);
  // Standard error of the slope from the residuals, n − 2 degrees of freedom.
  const residual = Math.max(0, syy - slope * sxy);
  const ci95 = n > 2 ? tQuantile975(n - 2) * Math.sqrt(residual / (n - 2) / sxx) : null;
  return {
    points: n,
    per_min: slope,
    per_min_ci95: ci95,
    fitted_start: start,
    fitted_end: end,
    growth: end - start,
    growth_pct: start !== 0 ? ((end - start) / Math.abs(start)) * 100 : null,
    r2: syy > 0 ? (sxy * sxy) / (sxx * syy) : null,
    ...raw,
  };
}

/** Student's t, 97.5th percentile (two-sided 95 %), for `df` degrees of freedom. */
function tQuantile975(df: number): number {
  const table = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16,
    2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052,
    2.048, 2.045, 2.042,
  ];
  if (df <= table.length) return table[df - 1] as number;
  return df <= 60 ? 2.0 : df <= 120 ? 1.98 : 1.96;
}
