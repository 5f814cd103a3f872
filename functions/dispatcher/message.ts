/**
 * The message as the dispatcher reads it off SQS: the core task message plus two fields only the
 * AWS path uses. They are dropped before the message reaches a runner (the runner sees the core
 * message only), so core stays unchanged.
 */
import * as z from 'zod/mini';
import { messageKey, taskMessageSchema, type TaskMessage } from '../../core/message.ts';

export const dispatchMessageSchema = z.extend(taskMessageSchema, {
  /** How many times this message was put back because the runner cap or the task's lock was hit. */
  deferrals: z.optional(z.number().check(z.int(), z.gte(0), z.lte(100_000))),
  /**
   * The idempotency key of the message this one continues (a deferred copy, a re-queue after a
   * crash). Absent on messages from the poller and on hand-sent ones.
   */
  dispatch_key: z.optional(
    z
      .string()
      .check(
        z.regex(/^[A-Za-z0-9._:-]{1,200}$/, 'may contain only letters, digits and . _ : - (at most 200)'),
      ),
  ),
});
export type DispatchMessage = z.infer<typeof dispatchMessageSchema>;

/** The core message (what a runner gets in NUMA_MESSAGE). */
export function coreMessage(msg: DispatchMessage): TaskMessage {
  return taskMessageSchema.parse(msg);
}

/**
 * The idempotency key of a message without its attempt: the topic message's key, the key it
 * carries (deferred copies and re-queues), or for a hand-sent message the SQS message id (so a
 * redelivery of the same SQS message is still idempotent, but every hand-sent message runs).
 */
export function baseKey(msg: DispatchMessage, sqsMessageId: string): string {
  return msg.dispatch_key ?? messageKey(msg, sqsMessageId);
}

/** The key of one attempt of a message: `<base>-a<attempt>`. */
export function attemptKey(base: string, attempt: number): string {
  return `${base}-a${attempt}`;
}
