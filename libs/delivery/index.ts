export * from './retry-schedule';
export * from './usage';
export * from './url-policy';
export * from './request';
export * from './http-sender';
export * from './payload-body';
export * from './queue-batch';
export * from './parse-payload-event';
