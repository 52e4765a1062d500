/**
 * What /dashboard answers a browser without a session (status 401): a form that trades the admin
 * key, sent once in an Authorization header, for the session cookie, then loads the dashboard.
 * It holds no data.
 */
export const LOGIN_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sluice · sign in</title>
<style>
  body { margin:0; background:#0f1419; color:#d8e0e8; font:13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; display:flex; justify-content:center; padding-top:15vh; }
  form { display:flex; flex-direction:column; gap:8px; width:300px; }
  input, button { font:inherit; padding:6px 8px; border-radius:4px; border:1px solid #263340; background:#172029; color:inherit; }
  #error { color:#ef5350; min-height:1.4em; }
</style>
</head>
<body>
<form id="login">
  <h1>Sluice · flow control</h1>
  <label for="key">Admin key</label>
  <input id="key" type="password" autocomplete="current-password" required autofocus>
  <button type="submit">Open the dashboard</button>
  <div id="error"></div>
</form>
<script>
'use strict';
document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const key = document.getElementById('key').value;
  const error = document.getElementById('error');
  try {
    const r = await fetch('/dashboard/session', { headers: { Authorization: 'Bearer ' + key }, credentials: 'same-origin' });
    if (r.ok) location.replace('/dashboard');
    else error.textContent = r.status === 401 ? 'Wrong key.' : 'Refused: ' + r.status;
  } catch {
    error.textContent = 'The gateway did not answer.';
  }
});
</script>
</body>
</html>
`;
