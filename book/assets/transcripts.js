// Transcripts (see transcripts.css): each line in a block of its own, so that a line too wide for
// the page wraps under its own start, marked as a continuation. The original text stays in the
// <code> element, which copying reads; only what is shown is split.
(function () {
  'use strict';
  document.querySelectorAll('code.transcript').forEach(function (code) {
    const text = code.textContent.replace(/\n$/, '');
    const shown = document.createElement('code');
    shown.className = code.className + ' lines';
    text.split('\n').forEach(function (line) {
      const row = document.createElement('span');
      row.className = 'line';
      row.style.setProperty('--lead', line.length - line.trimStart().length);
      row.textContent = line;
      shown.appendChild(row);
    });
    // The original stays, hidden, for copying: mdBook's copy button reads the first <code>.
    code.style.display = 'none';
    code.parentNode.insertBefore(shown, code.nextSibling);
  });
})();
