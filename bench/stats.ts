/** Order statistics of a handful of measurements. */

/** The median, least and greatest of some measurements. */
export interface Summary {
  median: number;
  min: number;
  max: number;
}

/** Summarizes `values` (at least one); an even count's median is the mean of the middle two. */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error('summarize: no values');

  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;

  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}
