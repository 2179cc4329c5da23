/** Being written (issue 3); replaced by its owner. */
import type { Command } from './cli.js';

export const command: Command = () => Promise.reject(new Error('not implemented yet'));
