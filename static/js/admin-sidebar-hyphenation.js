// The admin sidebar's model names with their hyphenation points (soft hyphens, chosen on the server by the page's
// language): long German compounds break only where they may ("Abonnement-positionen"), never at any letter.
// A static file (CSP: script-src 'self'), deferred after Django's nav_sidebar.js, so its filter has already read
// the plain names and still finds "positionen" as typed.
"use strict";
(function () {
  var data = document.getElementById("billing-sidebar-hyphenation");
  if (!data) {
    return;
  }
  var names = JSON.parse(data.textContent);
  document.querySelectorAll("#nav-sidebar th[scope=row] a").forEach(function (link) {
    var hyphenated = names[link.textContent.trim()];
    if (hyphenated) {
      link.textContent = hyphenated;
    }
  });
})();
