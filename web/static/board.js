/* The dispatch board's map: Leaflet with no tile layer (nothing is fetched from the internet).
   It draws, from the JSON in <script id="board-data"> (re-read whenever htmx swaps the routes
   fragment): a light graticule, the district's served area (the convex hull of its villages)
   with its blocks' names, each agent's base (a square), the visits (numbered circles in the
   agent's colour; unassigned ones grey with a red ring) and each route in order (dashed when
   locked). The lists beside the map say the same in words.
   Names and places come from the database: they are only ever set as text (textContent, or
   DOM elements given to Leaflet), never as HTML. */
(function () {
  "use strict";

  var map = null;
  var layers = null;
  var drawn = "";

  function readData() {
    var el = document.getElementById("board-data");
    return el ? el.textContent : "";
  }

  function text(tag, content, className) {
    var el = document.createElement(tag);
    el.textContent = content;
    if (className) el.className = className;
    return el;
  }

  function popup(lines) {
    var box = document.createElement("div");
    lines.forEach(function (line, i) {
      if (line) box.appendChild(text(i === 0 ? "strong" : "div", line));
    });
    return box;
  }

  function graticule(bounds) {
    var span = Math.max(bounds.getNorth() - bounds.getSouth(), bounds.getEast() - bounds.getWest());
    var step = span > 2 ? 0.5 : span > 0.8 ? 0.2 : 0.1;
    var south = Math.floor((bounds.getSouth() - span) / step) * step;
    var north = Math.ceil((bounds.getNorth() + span) / step) * step;
    var west = Math.floor((bounds.getWest() - span) / step) * step;
    var east = Math.ceil((bounds.getEast() + span) / step) * step;
    var style = { color: "#c9d2dc", weight: 1, interactive: false };
    for (var lat = south; lat <= north + 1e-9; lat += step) {
      L.polyline([[lat, west], [lat, east]], style).addTo(layers);
    }
    for (var lon = west; lon <= east + 1e-9; lon += step) {
      L.polyline([[south, lon], [north, lon]], style).addTo(layers);
    }
  }

  function legend(data) {
    var list = document.getElementById("board-agents");
    if (!list) return;
    list.textContent = "";
    data.bases.forEach(function (b) {
      var item = document.createElement("li");
      var swatch = text("span", "", "swatch");
      swatch.style.background = b.colour;
      swatch.setAttribute("aria-hidden", "true");
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(b.name));
      list.appendChild(item);
    });
  }

  function draw(fit) {
    var raw = readData();
    if (!raw || raw === drawn) return;
    drawn = raw;
    var data = JSON.parse(raw);
    layers.clearLayers();
    var bounds = L.latLngBounds([data.area.centre, data.area.centre]);
    data.area.outline.forEach(function (p) { bounds.extend(p); });
    data.bases.forEach(function (b) { bounds.extend([b.lat, b.lon]); });
    data.visits.forEach(function (v) { bounds.extend([v.lat, v.lon]); });
    // Markers are only drawn once the map has a view: set it before adding them.
    if (fit) map.fitBounds(bounds.pad(0.06));
    graticule(bounds);
    if (data.area.outline.length >= 3) {
      L.polygon(data.area.outline, {
        color: "#7a8699", weight: 1, fillColor: "#dfe7ee", fillOpacity: 0.7, interactive: false,
      }).addTo(layers);
    }
    data.area.blocks.forEach(function (b) {
      L.marker([b.lat, b.lon], {
        // Beside the block's point, not on it (an agent's base is often there).
        icon: L.divIcon({ className: "block-label", html: "", iconSize: null, iconAnchor: [-11, 7] }),
        interactive: false, keyboard: false,
      }).addTo(layers).getElement().textContent = b.name;
    });
    data.routes.forEach(function (r) {
      L.polyline(r.points, {
        color: r.colour, weight: 3, opacity: 0.9, dashArray: r.locked ? "7 6" : null,
      }).bindTooltip(text("span", r.name + (r.locked ? " (locked)" : ""))).addTo(layers);
    });
    data.bases.forEach(function (b) {
      var icon = L.divIcon({ className: "base-icon", html: "", iconSize: [20, 20] });
      var base = L.marker([b.lat, b.lon], { icon: icon, keyboard: false, zIndexOffset: 500 })
        .bindPopup(popup(["Base of " + b.name, b.place ? "CSC, " + b.place : ""]))
        .addTo(layers);
      var square = document.createElement("span");
      square.style.background = b.colour;
      base.getElement().appendChild(square);
    });
    data.visits.forEach(function (v) {
      var icon = L.divIcon({
        className: "visit-icon" + (v.left_out ? " left-out" : ""),
        html: "",
        iconSize: [20, 20],
      });
      var marker = L.marker([v.lat, v.lon], {
        icon: icon, keyboard: false, zIndexOffset: v.left_out ? 1000 : 800,
      });
      marker.bindPopup(popup([
        v.reference,
        v.service,
        v.village,
        "Window " + v.window + (v.eta ? ", planned " + v.eta : ""),
        v.left_out ? "Unassigned: " + v.why : "Stop " + v.position + " · " + v.status.replace("_", " "),
        v.at_risk ? "At risk" : "",
        v.kept_by ? "Kept with this agent by " + v.kept_by : "",
      ]));
      marker.addTo(layers);
      var el = marker.getElement();
      el.style.background = v.colour;
      el.textContent = v.left_out ? "!" : String(v.position);
    });
    legend(data);
  }

  function init() {
    var el = document.getElementById("board-map");
    if (!el || !window.L) return;
    map = L.map(el, { attributionControl: false, zoomSnap: 0.25 });
    layers = L.layerGroup().addTo(map);
    draw(true);
    // The routes fragment is swapped by htmx when the board changed: redraw from its data,
    // keeping the dispatcher's zoom.
    document.body.addEventListener("htmx:afterSettle", function () { draw(false); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
