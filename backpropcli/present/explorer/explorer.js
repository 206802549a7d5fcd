// The explorer's behaviour: which step is shown, and which node is selected.
// Python (backpropcli/present/explorer) wrote every element of the page and every number in
// it; this script only reveals them. An element with data-step="k" belongs to step k: before
// k it gets the class "future" (hidden or dimmed by the CSS), at k the class "now".
// The URL's hash holds the state: #step=N, #step=end, optionally &node=NAME.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const last = data.steps.length - 1;
  const stepped = Array.from(document.querySelectorAll("[data-step]")).filter((el) => el !== document.body);
  const slider = document.getElementById("slider");
  const counter = document.getElementById("counter");
  const buttons = {
    first: document.getElementById("first"), prev: document.getElementById("prev"),
    next: document.getElementById("next"), last: document.getElementById("last"),
  };
  let step = 0;
  let selected = null; // the clicked node's name; null: follow the step's own node

  // a paragraph of text (never HTML: the text is the data's, set as textContent)
  function line(parent, text, cls) {
    const p = document.createElement("p");
    p.textContent = text;
    if (cls) p.className = cls;
    parent.appendChild(p);
    return p;
  }

  function readHash() {
    const found = {};
    for (const part of location.hash.replace(/^#/, "").split("&")) {
      const [key, value] = part.split("=");
      if (key) found[key] = decodeURIComponent(value || "");
    }
    const n = found.step === "end" ? last : parseInt(found.step, 10);
    return { step: Number.isFinite(n) ? n : 0, node: found.node in data.nodes ? found.node : null };
  }

  function writeHash() {
    const hash = "#step=" + step + (selected ? "&node=" + encodeURIComponent(selected) : "");
    if (location.hash !== hash) history.replaceState(null, "", hash); // no history entry per keypress
  }

  // the step's explanation, and its marks (where nan is born, a student's wrong gradient)
  function renderStep() {
    const s = data.steps[step];
    const panel = document.getElementById("step-panel");
    document.getElementById("step-heading").textContent = "step " + step + ": " + s.heading;
    const lines = document.getElementById("step-lines");
    lines.replaceChildren();
    s.lines.forEach((text) => line(lines, text.trim(), text.startsWith("  ") ? "indent" : ""));
    s.marks.forEach((m) => line(lines, m.text, "callout " + m.kind));
    panel.className = s.marks.length ? s.marks[0].kind : "";
  }

  // one node at this step: its value once computed, its chain-rule sum once complete
  function renderNode() {
    const name = selected || data.steps[step].node;
    const heading = document.getElementById("node-heading");
    const lines = document.getElementById("node-lines");
    lines.replaceChildren();
    if (!name) {
      heading.textContent = "click a node for its chain rule";
      return;
    }
    const n = data.nodes[name];
    heading.textContent = "node " + n.title + "  (" + n.op + ")" + (selected ? "" : " · this step's node");
    if (step >= n.forward) line(lines, "value " + n.value + "  (forward step " + n.forward + ")");
    else line(lines, "value: not computed yet (forward step " + n.forward + ")", "pending");
    if (n.backward === null) {
      line(lines, "no gradient: data", "pending");
    } else if (step < n.backward) {
      line(lines, n.d + ": not known yet (backward step " + n.backward + ")", "pending");
    } else {
      const sum = n.terms.map((t) => t.downstream + " via " + t.via).join(" + ");
      line(lines, n.d + " = " + (n.output ? n.grad + " (the output)" : sum ? sum + " = " + n.grad : n.grad),
           "grad");
      // one term per outgoing edge: the downstream it sends back (upstream times local, summed where a scalar feeds a vector)
      n.terms.forEach((t) => {
        const sum = t.summed ? "Σ " : "";
        line(lines, "via " + t.via + ": " + sum + t.d_via + " × " + t.d_local + " = " + sum + t.upstream + " × " +
             t.local + " = " + t.downstream + " (local: " + t.rule + ")", "indent");
      });
      if (n.student) {
        line(lines, "yours: " + n.student_grad + (n.student.wrong ? " ✗ wrong" : " ✓ right") +
             (n.student.note ? " (" + n.student.note + ")" : ""), n.student.wrong ? "callout wrong" : "");
      }
    }
    document.querySelectorAll("[data-node]").forEach((el) => el.classList.toggle("selected",
                                                                                  el.dataset.node === selected));
  }

  // a graph wider than its frame (kept legible, so it scrolls) brings the step's node into view
  function follow() {
    const frame = document.getElementById("figure");
    const name = data.steps[step].node;
    if (!name || (frame.scrollWidth <= frame.clientWidth && frame.scrollHeight <= frame.clientHeight)) return;
    const el = document.querySelector('#graph [data-node="' + CSS.escape(name) + '"]');
    if (!el) return;
    const box = el.getBoundingClientRect(), view = frame.getBoundingClientRect();
    if (box.left < view.left || box.right > view.right) {
      frame.scrollLeft += box.left + box.width / 2 - (view.left + view.width / 2);
    }
    if (box.top < view.top || box.bottom > view.bottom) {
      frame.scrollTop += box.top + box.height / 2 - (view.top + view.height / 2);
    }
  }

  function show(n, fromHash) {
    step = Math.max(0, Math.min(last, n));
    for (const el of stepped) {
      const at = Number(el.dataset.step);
      el.classList.toggle("future", at > step);
      el.classList.toggle("now", at === step);
    }
    slider.value = String(step);
    counter.textContent = "step " + step + " of " + last + " · " + data.steps[step].phase;
    buttons.first.disabled = buttons.prev.disabled = step === 0;
    buttons.next.disabled = buttons.last.disabled = step === last;
    renderStep();
    renderNode();
    follow();
    document.body.dataset.step = String(step); // for the tests and for print
    if (!fromHash) writeHash();
  }

  buttons.first.addEventListener("click", () => show(0));
  buttons.prev.addEventListener("click", () => show(step - 1));
  buttons.next.addEventListener("click", () => show(step + 1));
  buttons.last.addEventListener("click", () => show(last));
  slider.addEventListener("input", () => show(Number(slider.value)));
  document.addEventListener("keydown", (event) => {
    if (event.target === slider || event.altKey || event.ctrlKey || event.metaKey) return; // the slider's own keys
    const to = { ArrowRight: step + 1, ArrowLeft: step - 1, Home: 0, End: last }[event.key];
    if (to !== undefined) {
      event.preventDefault();
      show(to);
    } else if (event.key === "Escape" && selected) {
      selected = null;
      show(step);
    }
  });
  document.querySelectorAll("g.node").forEach((g) => {
    const pick = () => { selected = selected === g.dataset.node ? null : g.dataset.node; show(step); };
    g.addEventListener("click", pick);
    g.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault(); // a space would scroll the page
        pick();
      }
    });
  });
  window.addEventListener("hashchange", () => {
    const state = readHash();
    selected = state.node;
    show(state.step, true);
  });

  const start = readHash();
  selected = start.node;
  show(start.step, true);
})();
