const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Webhook and key ids are uuids; anything else is unknown without asking Postgres, which would refuse it. */
export const isUuid = (id: string): boolean => UUID.test(id);
