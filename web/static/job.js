// Live updates for a job page from its event stream (GET /api/v1/jobs/<id>/events,
// Server-Sent Events) until the `done` event. A static file because the CSP
// allows no inline script; it builds DOM nodes and sets textContent, never HTML.
(function () {
  "use strict";

  const FINISHED = new Set(["succeeded", "failed", "canceled"]);
  const MIN_RETRY_MS = 1000;
  const MAX_RETRY_MS = 30000;
  // The loss chart is an SVG the server draws: reload it at most this often.
  const CHART_RELOAD_MS = 1000;

  const root = document.getElementById("job");
  if (!root || !window.EventSource) {
    return;
  }
  let lastEventId = null;
  let retryMs = MIN_RETRY_MS;
  let chartReload = null;

  function setText(id, value) {
    document.getElementById(id).textContent = value;
  }

  function formatSeconds(seconds) {
    if (seconds === null || seconds === undefined) {
      return "—";
    }
    const rounded = Math.max(1, Math.round(seconds));
    return rounded < 60 ? "about " + rounded + " s" : "about " + Math.round(rounded / 60) + " min";
  }

  function renderStatus(data) {
    const status = document.getElementById("status");
    status.textContent = data.status;
    status.className = "status status-" + data.status;
    if (data.error && data.status === "failed") {
      const error = document.getElementById("error");
      error.textContent = data.error.message;
      error.hidden = false;
    }
    if (FINISHED.has(data.status)) {
      document.getElementById("cancel-form").hidden = true;
      document.getElementById("previews").hidden = true; // the images themselves come next
      setText("queue-position", "—");
      setText("eta", "—");
      if (data.status === "succeeded") {
        const progress = document.getElementById("progress");
        progress.value = progress.max;
        setText("progress-text", "step " + progress.max + " of " + progress.max);
      }
    } else if (data.status === "running") {
      setText("queue-position", "0");
    }
    // Set last, so a test waiting on data-status sees everything else in place.
    root.dataset.status = data.status;
  }

  function renderProgress(data) {
    const progress = document.getElementById("progress");
    progress.max = data.total || 1;
    progress.value = data.step;
    setText("progress-text", data.total ? "step " + data.step + " of " + data.total : "not started");
  }

  function renderPreview(data) {
    const previews = document.getElementById("previews");
    if (FINISHED.has(root.dataset.status)) {
      return;
    }
    let image = previews.querySelector('img[data-index="' + data.index + '"]');
    if (!image) {
      image = document.createElement("img");
      image.dataset.index = String(data.index);
      image.alt = "image " + (data.index + 1) + " as it denoises";
      image.width = 256;
      previews.appendChild(image);
    }
    image.src = data.image;
    image.title = "step " + data.step;
    previews.hidden = false;
  }

  function renderQueue(data) {
    setText("queue-position", data.queue_position === null ? "—" : String(data.queue_position));
    setText("eta", formatSeconds(data.eta_seconds));
  }

  function renderArtifactFile(container, artifact) {
    const link = document.createElement("a");
    link.href = artifact.url;
    link.dataset.kind = artifact.kind;
    link.textContent = artifact.kind + " file";
    const line = document.createElement("p");
    line.className = "artifact-file";
    line.append(link, " (" + artifact.bytes + " bytes)");
    container.appendChild(line);
  }

  function textBlock(index, text) {
    const block = document.createElement("pre");
    block.className = "artifact-text";
    block.dataset.index = String(index);
    block.textContent = text;
    return block;
  }

  // An audio artifact: a player, the waveform the server draws
  // (GET <job page>/artifacts/<index>/waveform.svg) and what it holds.
  function audioBlock(artifact) {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "metadata";
    audio.src = artifact.url;
    const waveform = document.createElement("img");
    waveform.className = "waveform";
    waveform.src = root.dataset.pageUrl + "/artifacts/" + artifact.index + "/waveform.svg";
    waveform.alt = "waveform of audio " + (artifact.index + 1);
    waveform.width = 640;
    waveform.height = 120;
    const duration = document.createElement("span");
    duration.className = "duration";
    duration.textContent = artifact.duration_seconds.toFixed(2);
    const seed = document.createElement("span");
    seed.className = "seed";
    seed.textContent = String(artifact.seed);
    const download = document.createElement("a");
    download.href = artifact.url;
    download.download = "";
    download.textContent = "download";
    const caption = document.createElement("figcaption");
    caption.append(duration, " s at " + artifact.sample_rate + " Hz, seed ", seed, " · ", download);
    const figure = document.createElement("figure");
    figure.className = "artifact-audio";
    figure.dataset.index = String(artifact.index);
    figure.append(audio, waveform, caption);
    return figure;
  }

  function renderText(data) {
    const texts = document.getElementById("texts");
    if (!texts) {
      return;
    }
    const shown = texts.querySelector('[data-index="' + data.index + '"]');
    if (shown) {
      shown.textContent = data.text;
    } else {
      texts.appendChild(textBlock(data.index, data.text));
    }
  }

  // The links job.html puts under each image: forms opened with it (or its settings).
  function artifactActions(container, artifact) {
    const source = "artifact:" + root.dataset.jobId + "/" + artifact.index;
    const actions = document.createElement("p");
    actions.className = "artifact-actions";
    function addLink(className, base, params, text) {
      const url = new URL(base, window.location.href);
      for (const [name, value] of Object.entries(params)) {
        url.searchParams.set(name, value);
      }
      const link = document.createElement("a");
      link.className = className;
      link.href = url.pathname + url.search;
      link.textContent = text;
      actions.append(link, " ");
    }
    addLink("use-as-input", container.dataset.useUrl, { init_image_source: source }, "Use as input");
    addLink("upscale", container.dataset.upscaleUrl, { image_source: source }, "Upscale");
    if (container.dataset.againUrl) {
      addLink("same-settings", container.dataset.againUrl, { seed: String(artifact.seed) }, "Same settings again");
    }
    return actions;
  }

  function renderArtifacts(data) {
    const container = document.getElementById("artifacts");
    if (container.children.length) {
      return; // already on the page
    }
    const texts = document.getElementById("texts");
    if (texts) {
      texts.hidden = true; // the stored texts below replace the streamed ones
    }
    for (const artifact of data.artifacts) {
      if (artifact.kind === "text") {
        container.appendChild(textBlock(artifact.index, artifact.text));
        continue;
      }
      if (artifact.kind === "audio") {
        container.appendChild(audioBlock(artifact));
        continue;
      }
      if (artifact.kind !== "image") {
        renderArtifactFile(container, artifact);
        continue;
      }
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
      figure.append(link, caption, artifactActions(container, artifact));
      container.appendChild(figure);
    }
  }

  function renderLoss(data) {
    const chart = document.getElementById("loss-chart");
    if (!chart || !data.points.length) {
      return;
    }
    const latest = data.points[data.points.length - 1][1];
    setText("latest-loss", latest === null ? "not finite" : latest.toPrecision(4));
    if (chartReload === null) {
      chartReload = setTimeout(function () {
        chartReload = null;
        const url = new URL(chart.src, window.location.href);
        url.searchParams.set("v", String(lastEventId)); // a new URL, or the image is not fetched again
        chart.src = url.href;
      }, CHART_RELOAD_MS);
    }
  }

  const handlers = {
    status: renderStatus,
    progress: renderProgress,
    queue: renderQueue,
    loss: renderLoss,
    text: renderText,
    preview: renderPreview,
    artifacts: renderArtifacts,
  };

  function connect() {
    let url = root.dataset.eventsUrl;
    if (lastEventId !== null) {
      url += "?last_event_id=" + encodeURIComponent(lastEventId);
    }
    const source = new EventSource(url);
    for (const [type, render] of Object.entries(handlers)) {
      source.addEventListener(type, function (event) {
        if (event.lastEventId) {
          lastEventId = event.lastEventId;
        }
        retryMs = MIN_RETRY_MS;
        render(JSON.parse(event.data));
      });
    }
    source.addEventListener("done", function () {
      source.close(); // otherwise EventSource would reconnect
    });
    source.onerror = function () {
      // EventSource reconnects by itself after a stream ends (it is bounded in
      // time) or the network drops; it gives up only on an HTTP error (a 503
      // when the server has no free stream): then try again later, resuming.
      if (source.readyState === EventSource.CLOSED && !FINISHED.has(root.dataset.status)) {
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      }
    };
  }

  connect();
})();
