/**
 * This process's name among replicas sharing a store: host, pid and a random part (unique across
 * restarts). It names the re-clustering lease's holder and the audience-job runner, so an operator
 * can tell which process holds what.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';

export const PROCESS_NAME = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
