export * from './actions';
export * from './schema';
export * from './webhook';
export * from './payload-event';
export * from './usage';
export * from './stored-text';
