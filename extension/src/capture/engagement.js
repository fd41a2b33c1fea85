/**
 * Content-script extractor: dwell time (only while the tab is visible) and maximum scroll depth.
 */

export function createEngagementTracker(win, doc, now = () => Date.now()) {
  let visibleSince = doc.visibilityState === 'hidden' ? null : now();
  let dwell = 0;
  let maxScroll = 0;
  const measure = () => {
    const el = doc.scrollingElement || doc.documentElement;
    const full = Math.max(el?.scrollHeight || 0, doc.body?.scrollHeight || 0);
    const seen = (win.scrollY || el?.scrollTop || 0) + (win.innerHeight || 0);
    if (full > 0) maxScroll = Math.max(maxScroll, Math.min(1, seen / full));
  };
  const onVis = () => {
    if (doc.visibilityState === 'hidden') { if (visibleSince !== null) { dwell += now() - visibleSince; visibleSince = null; } } else if (visibleSince === null) visibleSince = now();
  };
  let pending = false;
  const onScroll = () => { if (pending) return; pending = true; win.setTimeout(() => { pending = false; measure(); }, 200); };
  doc.addEventListener('visibilitychange', onVis);
  win.addEventListener('scroll', onScroll, { passive: true });
  measure();
  return {
    snapshot() {
      measure();
      const d = dwell + (visibleSince !== null ? now() - visibleSince : 0);
      return { dwell_ms: Math.max(0, Math.round(d)), scroll: Math.round(maxScroll * 100) / 100 };
    },
    stop() { doc.removeEventListener('visibilitychange', onVis); win.removeEventListener('scroll', onScroll); },
  };
}
