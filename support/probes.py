"""Timing the app in a browser: a probe installed in the page that timestamps a key press up to the new
decoded image painted, the selector of an app at rest, the Plotly map's empty spot, and percentiles of the times."""

# The app at rest: its script is not running.
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"

# The Latent map page's Plotly map: of the clickable empty-space grid spots (its first trace) at least 25 px from
# every data point, the one nearest the plot's centre (clear of the toolbar over its top edge); null if none.
PLOTLY_EMPTY_SPOT = """() => {
  const centre = (el) => { const r = el.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; };
  const traces = document.querySelectorAll('.js-plotly-plot .scatterlayer .trace');
  const data = [...traces].slice(1).flatMap((t) => [...t.querySelectorAll('.points path')].map(centre));
  const [cx, cy] = centre(document.querySelector('.js-plotly-plot .nsewdrag'));
  const empty = [...traces[0].querySelectorAll('.points path')].map(centre)
    .filter(([x, y]) => data.every(([u, v]) => Math.hypot(x - u, y - v) > 25));
  empty.sort((p, q) => Math.hypot(p[0] - cx, p[1] - cy) - Math.hypot(q[0] - cx, q[1] - cy));
  return empty.length ? empty[0] : null;
}"""


# Installed in the page before Streamlit's own scripts. window.__mark collects one key press's
# timestamps (ms, performance.now() time base); window.__arm() returns a promise of them.
PROBE = """
(() => {
  const decoded = () => [...document.querySelectorAll('[data-testid=stImage]')]
    .find((e) => e.textContent.includes('decoded'))?.querySelector('img');
  window.__mark = null;
  window.__long = [];
  new PerformanceObserver((list) => window.__long.push(...list.getEntries())).observe({ type: 'longtask' });
  window.addEventListener('keydown', (e) => {
    if (window.__armed) window.__mark = { key: e.timeStamp, msgs: [] };
    window.__armed = false;
  }, { capture: true });
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const m = window.__mark;
    if (m && m.sent === undefined) m.sent = performance.now();
    if (!this.__probed) {
      this.__probed = true;
      this.addEventListener('message', (e) => { if (window.__mark) window.__mark.msgs?.push(e.timeStamp); });
    }
    return send.call(this, data);
  };
  window.__arm = () => {
    const before = decoded()?.src;
    window.__armed = true;
    window.__mark = null;
    return new Promise((resolve) => {
      let done = false;
      const stop = () => { done = true; observer.disconnect(); clearInterval(poll); };
      const finish = (m) => { stop(); resolve(m); };
      const observer = new MutationObserver(() => {
        const m = window.__mark;
        if (done || !m) return;
        const img = decoded();
        if (img && img.src && img.src !== before) {
          stop();
          m.src = performance.now();
          m.ack = m.msgs.length ? m.msgs[0] : m.src;
          img.decode().catch(() => {}).then(() => {
            m.decoded = performance.now();
            requestAnimationFrame(() => requestAnimationFrame(() => {
              m.end = performance.now();
              m.messages = m.msgs.length;
              m.msgTimes = m.msgs;
              delete m.msgs;
              // main-thread tasks over 50 ms during the press: the browser's own work (layout, React)
              m.long = window.__long.filter((t) => t.startTime + t.duration > m.key && t.startTime < m.end)
                .reduce((sum, t) => sum + t.duration, 0);
              resolve(m);
            }));
          });
        }
      });
      // No new image: the press changed nothing (nothing sent within 5 s: the slider was already there), or
      // the run ended (at rest, no message for 1 s) with a decode that rounds to the same pixels. Told on a
      // timer, not from the run state's changes, which under load React may draw as one change or none.
      const poll = setInterval(() => {
        const m = window.__mark;
        if (done || !m) return;
        const now = performance.now();
        const atRest = document.querySelector('[data-testid=stApp]').dataset.testScriptState === 'notRunning';
        const quiet = m.sent === undefined ? now - m.key > 5000 : m.msgs.length && now - m.msgs.at(-1) > 1000;
        if (atRest && quiet) finish({ ...m, unchanged: true, msgs: undefined });
      }, 250);
      observer.observe(document.body, { subtree: true, childList: true, attributes: true,
                                        attributeFilter: ['src'] });
    });
  };
})();
"""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
