/** The one silent logger of the tests: providers log through it, nothing reaches the terminal. */
import type { Logger } from '../../src/engine/contract';

export const silentLog: Logger = { info() {}, warn() {}, error() {}, debug() {} };
