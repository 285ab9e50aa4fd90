// When a panel's run that ended with an error starts again by itself, from the start: it
// could not carry on where it was cut (RESUME_UNAVAILABLE: its data changed since; or a lost
// socket while its source cannot resume, docs/protocol.md "Resuming"). No DOM here.

export const MAX_RESTARTS = 3;
const RESTART_ON = new Set(['RESUME_UNAVAILABLE']);
const RESTART_AFTER_RECONNECT = new Set(['CONNECTION_LOST', 'GATEWAY_UNAVAILABLE', 'CLIENT_TOO_SLOW']);

/** Whether to run again after ``error``, the run having restarted ``restarts`` times in a
 * row, on a connection now in ``connectionState``. */
export function mayRestart(error, restarts, connectionState) {
  if (restarts >= MAX_RESTARTS) return false;
  if (RESTART_ON.has(error?.code)) return true;
  return RESTART_AFTER_RECONNECT.has(error?.code) && connectionState === 'reconnecting';
}
