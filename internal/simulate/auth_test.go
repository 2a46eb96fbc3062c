package simulate

import "testing"

// TestCredentialOptions: credentials basic authentication cannot carry are rejected.
func TestCredentialOptions(t *testing.T) {
	for _, c := range []struct {
		user, password string
		ok             bool
	}{
		{"", "", true},
		{"admin", "secret", true},
		{"admin", "", true}, // an empty password is a password
		{"", "secret", false},
		{"ad:min", "secret", false},
	} {
		_, err := Options{User: c.user, Password: c.password}.withDefaults()
		if (err == nil) != c.ok {
			t.Errorf("User %q, Password %q: error %v, want ok %v", c.user, c.password, err, c.ok)
		}
	}
}
