// Live updates for a job page: polls GET /api/v1/jobs/<id> until the job is
// finished. A static file because the CSP allows no inline script; it builds
// DOM nodes and sets textContent, never HTML strings.
(function () {
  "use strict";

  const FINISHED = new Set(["succeeded", "failed", "canceled"]);
  const POLL_MS = 1000;
  const MAX_RETRY_MS = 10000;

  const root = document.getElementById("job");
  if (!root) {
    return;
  }
  let retryMs = POLL_MS;

  function setText(id, value) {
    document.getElementById(id).textContent = value;
  }

  function progressText(progress) {
    return progress.total ? "step " + progress.step + " of " + progress.total : "not started";
  }

  function renderArtifacts(artifacts) {
    const container = document.getElementById("artifacts");
    if (container.querySelector("img.artifact")) {
      return; // already on the page
    }
    for (const artifact of artifacts) {
      const image = document.createElement("img");
      image.className = "artifact";
      image.src = artifact.url;
      image.alt = "image " + (artifact.index + 1);
      image.dataset.seed = String(artifact.seed);
      const link = document.createElement("a");
      link.href = artifact.url;
      link.appendChild(image);
      const seed = document.createElement("span");
      seed.className = "seed";
      seed.textContent = String(artifact.seed);
      const caption = document.createElement("figcaption");
      caption.append("seed ", seed);
      const figure = document.createElement("figure");
      figure.className = "artifact-card";
      figure.append(link, caption);
      container.appendChild(figure);
    }
  }

  function render(job) {
    const status = document.getElementById("status");
    status.textContent = job.status;
    status.className = "status status-" + job.status;
    const progress = document.getElementById("progress");
    progress.max = job.progress.total || 1;
    progress.value = job.progress.step;
    setText("progress-text", progressText(job.progress));
    setText("queue-position", job.queue_position === null ? "—" : String(job.queue_position));
    if (job.error) {
      const error = document.getElementById("error");
      error.textContent = job.error.message;
      error.hidden = false;
    }
    if (job.status === "succeeded") {
      renderArtifacts(job.artifacts);
    }
    // Set last, so a test waiting on data-status sees everything else in place.
    root.dataset.status = job.status;
  }

  async function poll() {
    try {
      const response = await fetch(root.dataset.jobUrl, {
        headers: { Accept: "application/json" },
        cache: "no-store",
      });
      if (response.status === 404) {
        return; // the job is gone; nothing more will change
      }
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      const job = await response.json();
      render(job);
      retryMs = POLL_MS;
      if (FINISHED.has(job.status)) {
        return;
      }
      setTimeout(poll, POLL_MS);
    } catch (error) {
      // The server restarting or a network blip: keep trying, less often.
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      setTimeout(poll, retryMs);
    }
  }

  // Poll even if the page was rendered finished: images may have been rendered
  // from a stale state; one request settles it and then stops.
  poll();
})();
