// The console's maps: Leaflet with no basemap unless the server names an intranet tile server
// (RECHECK_MAP_TILES_URL); points drawn on one canvas so thousands of markers stay smooth.
(function () {
  "use strict";

  function make(element) {
    var map = L.map(element, { preferCanvas: true, zoomSnap: 0.25 });
    map.attributionControl.setPrefix("Leaflet");
    var tiles = element.getAttribute("data-tiles");
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    return map;
  }

  function fit(map, latlngs) {
    if (latlngs.length) map.fitBounds(L.latLngBounds(latlngs).pad(0.1));
    else map.setView([35, 105], 4);
  }

  // Points of a suggested split: [lat, lon, pair index, label], coloured by pair.
  function split(element) {
    var data = JSON.parse(document.getElementById(element.getAttribute("data-points")).textContent);
    var colours = JSON.parse(element.getAttribute("data-colours"));
    var map = make(element);
    var renderer = L.canvas({ padding: 0.5 });
    var latlngs = [];
    data.forEach(function (p) {
      var colour = colours[p[2] % colours.length];
      L.circleMarker([p[0], p[1]], { renderer: renderer, radius: 5, color: colour, fillColor: colour, fillOpacity: 0.85, weight: 1 })
        .bindTooltip(p[3]).addTo(map);
      latlngs.push([p[0], p[1]]);
    });
    fit(map, latlngs);
    element.setAttribute("data-ready", String(data.length));
    return map;
  }

  // A day's route: the start, the line through the ordered stops, numbered stops.
  function route(element) {
    var data = JSON.parse(document.getElementById(element.getAttribute("data-route")).textContent);
    var map = make(element);
    var latlngs = [];
    var line = [];
    if (data.start) { line.push(data.start); L.circleMarker(data.start, { radius: 7, color: "#000", fillColor: "#fff", fillOpacity: 1 }).bindTooltip(data.startLabel).addTo(map); latlngs.push(data.start); }
    data.stops.forEach(function (s) {
      var icon = L.divIcon({ className: "stop-label", html: String(s.order), iconSize: [22, 22] });
      L.marker([s.lat, s.lon], { icon: icon, keyboard: false }).bindTooltip(s.label).addTo(map);
      line.push([s.lat, s.lon]);
      latlngs.push([s.lat, s.lon]);
    });
    if (line.length > 1) L.polyline(line, { color: "#1f5fae", weight: 3 }).addTo(map);
    fit(map, latlngs);
    element.setAttribute("data-ready", String(data.stops.length));
    return map;
  }

  function start() {
    document.querySelectorAll("[data-map=split]").forEach(split);
    document.querySelectorAll("[data-map=route]").forEach(route);
  }
  window.recheckMaps = { split: split, route: route, start: start };
  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", function (event) {
    event.target.querySelectorAll && event.target.querySelectorAll("[data-map]").forEach(function (el) {
      if (!el.getAttribute("data-ready")) (el.getAttribute("data-map") === "split" ? split : route)(el);
    });
  });
})();
