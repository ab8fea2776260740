export * from './parse-bundle';
export * from './doc-state';
export * from './firing';
export * from './encode-event';
export * from './split-event';
export * from './chunk-size';
