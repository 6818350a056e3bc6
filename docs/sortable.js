// Sortable tables: click a header to sort its table by that column (numbers as numbers), again to reverse.
// Material for MkDocs loads pages instantly; document$ is its page-change stream where it exists.
function zooSortable() {
  document.querySelectorAll("article table").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, column) {
      if (th.dataset.sortable) return;
      th.dataset.sortable = "1";
      th.style.cursor = "pointer";
      th.title = "sort by this column";
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var descending = th.dataset.order === "asc";
        var key = function (row) {
          var text = row.cells[column] ? row.cells[column].textContent.trim() : "";
          var number = parseFloat(text.replace(/,/g, ""));
          return isNaN(number) ? text.toLowerCase() : number;
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          if (typeof x !== typeof y) { x = String(x); y = String(y); }
          return (x < y ? -1 : x > y ? 1 : 0) * (descending ? -1 : 1);
        });
        rows.forEach(function (row) { body.appendChild(row); });
        th.dataset.order = descending ? "desc" : "asc";
      });
    });
  });
}
if (typeof document$ !== "undefined") { document$.subscribe(zooSortable); } else { document.addEventListener("DOMContentLoaded", zooSortable); }
