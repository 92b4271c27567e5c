/**
 * A problem with the embedded PostgreSQL that the person starting Grantry can act on. Its message is one line that
 * says what is wrong and what to do; the server and the CLI print it as is, without a stack trace.
 */
export class EmbeddedPostgresError extends Error {}
