/**
 * A trigger that runs `fn` once, on the next turn of the event loop, however often it is called
 * before then (with the last argument given). A burst of store updates costs one pass, and the
 * pass runs outside the store's update callback.
 */
export function coalescedOnNextTick<A>(fn: (arg: A) => void): (arg: A) => void {
  let queued = false;
  let last: A;
  return (arg) => {
    last = arg;
    if (queued) return;
    queued = true;
    setImmediate(() => {
      queued = false;
      fn(last);
    });
  };
}
