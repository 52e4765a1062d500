/** Channel names: 1 to 128 characters from `A-Z a-z 0-9 _ . : @ -`. No escaping is ever needed. */
export const CHANNEL_NAME = /^[A-Za-z0-9_.:@-]{1,128}$/;

export function isValidChannel(name: unknown): name is string {
  return typeof name === 'string' && CHANNEL_NAME.test(name);
}
