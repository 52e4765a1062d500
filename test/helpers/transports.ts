/** Every transport the end-to-end suites run against. */
export const TRANSPORTS = ['ws'] as const;
export type TransportName = (typeof TRANSPORTS)[number];
