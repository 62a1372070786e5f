package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"html/template"
	"net/http"
	"strings"
)

// sessionCookie holds a browser's proof that it signed in: an HMAC of a
// fixed message keyed by the token, so the cookie works until the token
// changes and does not reveal it.
const sessionCookie = "shoal_session"

func (s *server) session() string {
	m := hmac.New(sha256.New, []byte(s.opts.Token))
	m.Write([]byte("shoal dashboard session"))
	return hex.EncodeToString(m.Sum(nil))
}

// authorized reports a request that carries the token or the session
// cookie (always, without a token).
func (s *server) authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return true
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+s.opts.Token)) == 1 {
		return true
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.session())) == 1
}

// guard answers 401 to requests without the token: with the sign-in page
// for a browser, plain text for scripts.
func (s *server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.authorized(r) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			s.renderLogin(w, http.StatusUnauthorized, "")
			return
		}
		http.Error(w, "shoal: wrong or missing token", http.StatusUnauthorized)
	})
}

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shoal: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/login.css"></head>
<body class="login"><form method="post" action="/login" id="login">
<h1>Shoal dashboard</h1>
<p>Paste the cluster token (<code>shoal token</code> prints it; it is in <code>~/.shoal/cluster-token</code>).</p>
{{if .}}<p class="error" id="login-error">{{.}}</p>{{end}}
<input type="password" name="token" id="token" autocomplete="current-password" autofocus required placeholder="token">
<button type="submit">Sign in</button>
</form></body></html>
`))

const loginCSS = `body.login{font-family:system-ui,sans-serif;background:#f4f6f8;display:flex;justify-content:center;padding-top:12vh}
#login{background:#fff;padding:2em 2.5em;border-radius:8px;box-shadow:0 1px 4px #0002;max-width:28em}
#login input{width:100%;box-sizing:border-box;padding:.5em;margin:.5em 0;font-size:1em}
#login button{padding:.5em 1.5em;font-size:1em}.error{color:#b00020}`

func (s *server) renderLogin(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = loginTemplate.Execute(w, msg)
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.opts.Token == "" || s.authorized(r) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, http.StatusOK, "")
}

// login checks the token a browser posts and gives it the session cookie.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := r.PostFormValue("token")
	if s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.opts.Token)) != 1 {
		s.renderLogin(w, http.StatusUnauthorized, "That is not the cluster's token.")
		return
	}
	if s.opts.Token != "" {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.session(), Path: "/", HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func serveLoginCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write([]byte(loginCSS))
}
