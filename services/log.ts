/** What a service needs of a logger (pino's, in the app): structured fields first, then the message. */
export interface ServiceLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}
