/* A small line-chart library for the cachelayer dashboard: SVG, no dependencies.
 *
 *   const chart = new LineChart(element, {title, unit, max, series: [{key, label, color}]});
 *   chart.update(seriesData);  // {key: [[t, value], ...]}
 *
 * Each series is drawn as an SVG <polyline> whose data-points attribute holds
 * how many points it has; the legend shows each series' latest value.
 */
"use strict";

class LineChart {
  constructor(element, options) {
    this.el = element;
    this.opt = Object.assign({width: 460, height: 170, unit: "", max: null, scale: 1}, options);
    const NS = "http://www.w3.org/2000/svg";
    this.NS = NS;
    element.classList.add("chart");
    const title = document.createElement("h3");
    title.textContent = this.opt.title;
    element.appendChild(title);
    this.svg = document.createElementNS(NS, "svg");
    this.svg.setAttribute("viewBox", `0 0 ${this.opt.width} ${this.opt.height}`);
    this.svg.setAttribute("width", this.opt.width);
    this.svg.setAttribute("height", this.opt.height);
    element.appendChild(this.svg);
    this.legend = document.createElement("div");
    this.legend.className = "legend";
    element.appendChild(this.legend);
    this.lines = {};
    this.values = {};
    this.axis = document.createElementNS(NS, "g");
    this.svg.appendChild(this.axis);
    for (const s of this.opt.series) {
      const line = document.createElementNS(NS, "polyline");
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", s.color);
      line.setAttribute("stroke-width", "2");
      line.setAttribute("data-series", s.key);
      line.setAttribute("data-points", "0");
      this.svg.appendChild(line);
      this.lines[s.key] = line;
      const item = document.createElement("span");
      item.innerHTML = `<i style="background:${s.color}"></i>${s.label}: <b data-latest="${s.key}">-</b>`;
      this.legend.appendChild(item);
      this.values[s.key] = item.querySelector("b");
    }
  }

  format(v) {
    const x = v * this.opt.scale;
    const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
    return x.toFixed(digits) + this.opt.unit;
  }

  update(data) {
    const {width, height} = this.opt;
    const pad = {l: 44, r: 8, t: 8, b: 18};
    let tMin = Infinity, tMax = -Infinity, vMax = this.opt.max || 0;
    for (const s of this.opt.series) {
      for (const [t, v] of data[s.key] || []) {
        tMin = Math.min(tMin, t); tMax = Math.max(tMax, t);
        if (!this.opt.max) vMax = Math.max(vMax, v);
      }
    }
    if (!isFinite(tMin)) return;
    if (tMax === tMin) tMax = tMin + 1;
    if (vMax <= 0) vMax = 1;
    const x = t => pad.l + (t - tMin) / (tMax - tMin) * (width - pad.l - pad.r);
    const y = v => height - pad.b - Math.min(v, vMax) / vMax * (height - pad.t - pad.b);
    this.axis.innerHTML = "";
    for (const frac of [0, 0.5, 1]) {
      const v = vMax * frac;
      const grid = document.createElementNS(this.NS, "line");
      grid.setAttribute("x1", pad.l); grid.setAttribute("x2", width - pad.r);
      grid.setAttribute("y1", y(v)); grid.setAttribute("y2", y(v));
      grid.setAttribute("class", "grid");
      this.axis.appendChild(grid);
      const label = document.createElementNS(this.NS, "text");
      label.setAttribute("x", 2); label.setAttribute("y", y(v) + 4);
      label.textContent = this.format(v);
      this.axis.appendChild(label);
    }
    const tl = document.createElementNS(this.NS, "text");
    tl.setAttribute("x", pad.l); tl.setAttribute("y", height - 3);
    tl.textContent = `${Math.round(tMin)} s`;
    this.axis.appendChild(tl);
    const tr = document.createElementNS(this.NS, "text");
    tr.setAttribute("x", width - pad.r - 40); tr.setAttribute("y", height - 3);
    tr.textContent = `${Math.round(tMax)} s`;
    this.axis.appendChild(tr);
    for (const s of this.opt.series) {
      const points = data[s.key] || [];
      this.lines[s.key].setAttribute("points", points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
      this.lines[s.key].setAttribute("data-points", String(points.length));
      if (points.length) this.values[s.key].textContent = this.format(points[points.length - 1][1]);
    }
  }
}

window.LineChart = LineChart;
