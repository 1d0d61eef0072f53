// "Select all" for lists of checkboxes: a checkbox with data-select-all="NAME" checks or
// clears every checkbox named NAME in its form, and follows them (checked when all are,
// mixed when some are).
(function () {
  "use strict";
  document.querySelectorAll("input[type=checkbox][data-select-all]").forEach(function (all) {
    var form = all.form;
    if (!form) return;
    var name = all.getAttribute("data-select-all");
    function boxes() {
      return Array.prototype.filter.call(form.elements, function (e) {
        return e.type === "checkbox" && e.name === name;
      });
    }
    function follow() {
      var b = boxes();
      var on = b.filter(function (e) { return e.checked; }).length;
      all.checked = b.length > 0 && on === b.length;
      all.indeterminate = on > 0 && on < b.length;
    }
    all.addEventListener("change", function () {
      boxes().forEach(function (e) { e.checked = all.checked; });
      all.indeterminate = false;
    });
    boxes().forEach(function (e) { e.addEventListener("change", follow); });
    follow();
  });
})();
