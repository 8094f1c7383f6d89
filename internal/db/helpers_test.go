package db_test

import "time"

func nowPlusHour() time.Time { return time.Now().Add(time.Hour) }
