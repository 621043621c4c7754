/** The current time in milliseconds since the epoch. Injected everywhere so that tests freeze it. */
export type Clock = () => number;

/** The real clock. */
export const systemClock: Clock = () => Date.now();
