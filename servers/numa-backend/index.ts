/**
 * The reference Numa backend (numa-api.md), for the demo, the tests and `numa-avatar backend`.
 */
export { startNumaBackend, DEFAULT_PORT, DEFAULT_LIMIT, MAX_LIMIT } from './server.ts';
export type { NumaBackend, NumaBackendOptions } from './server.ts';
export { FaultInjector, FAULT_KINDS, MALFORMED_DATA, mulberry32, validateFaults } from './faults.ts';
export type { FaultKind, FaultOptions } from './faults.ts';
export { NumaStore, TASKS_TOPIC, defaultBranch } from './store.ts';
export type {
  Application,
  Document,
  IdLike,
  LogEntry,
  NewApplication,
  NewDocument,
  NewTask,
  NumaStoreOptions,
  StatusChange,
  StoreSnapshot,
  Task,
  Topic,
  TopicMessage,
} from './store.ts';
