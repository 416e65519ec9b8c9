"""A camera that takes a burst of pictures per click, as Teachable Machine's "hold to record" does.

`st.camera_input` takes one picture per click; a class needs dozens, each a little different. This
component films in the browser (getUserMedia), takes `count` frames a moment apart on one click and
sends them to the server as JPEG data URLs. A camera that is denied or absent is said in words, on the
page and to Python, and the rest of the page works.
"""
import base64
import binascii

import streamlit as st

HTML = """
<div class="burst">
  <video class="burst-video" autoplay muted playsinline></video>
  <div class="burst-row">
    <button class="burst-open" type="button">Turn the camera on</button>
    <button class="burst-take" type="button" disabled hidden>Take pictures</button>
    <span class="burst-status" role="status"></span>
  </div>
</div>
"""

CSS = """
.burst-video { width: 100%; max-width: 480px; border-radius: 0.5rem; background: #222; display: block; }
.burst-row { display: flex; gap: 0.75rem; align-items: center; margin-top: 0.5rem; flex-wrap: wrap; }
.burst-open, .burst-take { font: inherit; padding: 0.4rem 0.9rem; border-radius: 0.5rem; cursor: pointer;
  border: 1px solid var(--st-primary-color); background: var(--st-primary-color); color: white; }
.burst-take:disabled { opacity: 0.5; cursor: not-allowed; }
.burst-status { color: var(--st-text-color); }
"""

# Called on every rerun with the newest data: the film and its button are made once and kept on the
# element, so the camera is not reopened each time the page redraws. The camera opens only when the
# person asks (the tab is drawn with the Data page, and its light must not come on unasked).
JS = """
export default function ({ parentElement, data, setTriggerValue, setStateValue }) {
  const video = parentElement.querySelector('.burst-video');
  const opener = parentElement.querySelector('.burst-open');
  const button = parentElement.querySelector('.burst-take');
  const status = parentElement.querySelector('.burst-status');
  const state = parentElement.__burst || (parentElement.__burst = { stream: null, busy: false, asked: false });
  const count = data.count;
  button.textContent = count === 1 ? 'Take a picture' : `Take ${count} pictures`;
  const refresh = () => {
    button.disabled = !state.stream || state.busy || !data.ready;
    if (state.stream && !state.busy) status.textContent = data.ready ? '' : data.waiting;
    opener.hidden = Boolean(state.stream);
  };
  opener.onclick = () => { state.asked = true; openCamera(); };
  const openCamera = () => {
    if (state.stream || state.opening) return;
    state.opening = true;
    status.textContent = 'Opening the camera…';
    const media = navigator.mediaDevices;
    const open = media && media.getUserMedia ? media.getUserMedia({ video: true, audio: false })
      : Promise.reject(new Error('this browser gives pages no camera (it needs https or localhost)'));
    open.then((stream) => {
      state.stream = stream;
      state.opening = false;
      video.srcObject = stream;
      video.play().catch(() => {});
      opener.hidden = true;
      button.hidden = false;
      if (state.failed) setStateValue('problem', '');
      refresh();
    }).catch((error) => {
      const why = error && error.name === 'NotAllowedError' ? 'the browser was not allowed to use it'
        : error && error.name === 'NotFoundError' ? 'no camera was found' : (error && error.message) || 'unknown';
      state.opening = false;
      state.failed = true;
      status.textContent = `The camera could not be opened: ${why}.`;
      setStateValue('problem', why);
    });
  };
  if (state.asked) openCamera();
  button.onclick = async () => {
    if (!state.stream || state.busy) return;
    state.busy = true;
    refresh();
    const longest = Math.max(video.videoWidth, video.videoHeight) || 1;
    const scale = Math.min(1, data.longest_side / longest);  // the studio trains at 224 px or less
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    const pictures = [];
    for (let i = 0; i < count; i++) {
      if (i > 0) await new Promise((done) => setTimeout(done, data.gap_ms));
      status.textContent = `Taking ${i + 1} of ${count}…`;
      canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
      pictures.push(canvas.toDataURL('image/jpeg', 0.92));
    }
    state.busy = false;
    status.textContent = `Took ${count}.`;
    setTriggerValue('burst', pictures);
    refresh();
  };
  refresh();
  return () => {
    // Unmounted (another tab, another page): let the camera go, so its light goes off.
    if (!parentElement.isConnected && state.stream) {
      state.stream.getTracks().forEach((track) => track.stop());
      parentElement.__burst = null;
    }
  };
}
"""

_burst_camera = st.components.v2.component("studio_camera_burst", html=HTML, css=CSS, js=JS)


def burst_camera(count: int, ready: bool, waiting: str, key: str,
                 gap_ms: int = 250, longest_side: int = 480) -> tuple[list[bytes], str]:
    """Show the camera; return (the JPEGs of a burst just taken, or none; why the camera failed, or "").

    ready: whether its button may be pressed now; waiting: what to say while it may not.
    """
    result = _burst_camera(key=key, data={"count": count, "ready": ready, "waiting": waiting,
                                          "gap_ms": gap_ms, "longest_side": longest_side},
                           default={"problem": ""}, on_burst_change=lambda: None,
                           on_problem_change=lambda: None)
    pictures = [decode_data_url(url) for url in (result.burst or [])]
    return [picture for picture in pictures if picture], result.problem or ""


def decode_data_url(url) -> bytes:
    """The bytes of a `data:image/jpeg;base64,...` URL; b"" for anything else."""
    if not isinstance(url, str) or not url.startswith("data:image/") or "," not in url:
        return b""
    try:
        return base64.b64decode(url.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        return b""
