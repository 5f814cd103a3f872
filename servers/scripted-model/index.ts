/** The scripted OpenAI-compatible model server (tests, demo). */
export { startScriptedModel, checkExpectations } from './server.ts';
export type {
  ScriptedModelOptions,
  ScriptedModelServer,
  ScriptedSession,
  ScriptedToolCall,
  ScriptedTurn,
} from './server.ts';
export { loadRecordedSession, parseRecordedSession, recordedSessionSchema } from './recorded.ts';
export type { RecordedSession } from './recorded.ts';
