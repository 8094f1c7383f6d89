package channels_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/channels"
)

func TestParseConfig(t *testing.T) {
	c, err := channels.ParseConfig(nil)
	require.NoError(t, err)
	require.Equal(t, channels.Config{}, c)
	c, err = channels.ParseConfig([]byte(`{"phone_number_id":"1001","template":{"name":"coach_reengage","language":"en_US"},"groups_enabled":true}`))
	require.NoError(t, err)
	require.Equal(t, "1001", c.PhoneNumberID)
	require.Equal(t, &channels.Template{Name: "coach_reengage", Language: "en_US"}, c.Template)
	require.True(t, c.GroupsEnabled)
	_, err = channels.ParseConfig([]byte(`{"phone_number_id":`))
	require.Error(t, err)
}
