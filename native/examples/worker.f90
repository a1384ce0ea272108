! Slide 19's worker in Fortran, through ISO_C_BINDING: gets the initial data, checks every
! element, and puts its result ("MyOutput/<worker>") for the master, as worker.c does.
!
! Usage: worker_f ID [URI]
!   ID   this worker's number (0, 1, ...)
!   URI  the relay to use; default: $OMNISTORE_RELAY, else the embedded store

! The C API of omnistore.h, for Fortran. Names are passed NUL-terminated (name // c_null_char);
! buffers as c_loc(array); omst_init takes c_null_ptr (the environment) or c_loc of a
! NUL-terminated character array.
module omnistore
  use, intrinsic :: iso_c_binding
  implicit none
  integer(c_int), parameter :: OMST_OK = 0
  integer(c_int), parameter :: OMST_E_NOT_FOUND = -2
  integer(c_int), parameter :: OMST_E_TOO_SMALL = -4

  interface
    integer(c_int) function omst_init(uri) bind(c, name='omst_init')
      import :: c_int, c_ptr
      type(c_ptr), value :: uri
    end function

    integer(c_int) function omst_put_data(name, data, size) bind(c, name='omst_put_data')
      import :: c_int, c_ptr, c_char, c_size_t
      character(kind=c_char), dimension(*), intent(in) :: name
      type(c_ptr), value :: data
      integer(c_size_t), value :: size
    end function

    integer(c_long_long) function omst_get_data(name, buf, size) bind(c, name='omst_get_data')
      import :: c_long_long, c_ptr, c_char, c_size_t
      character(kind=c_char), dimension(*), intent(in) :: name
      type(c_ptr), value :: buf
      integer(c_size_t), value :: size
    end function

    integer(c_long_long) function omst_get_size(name) bind(c, name='omst_get_size')
      import :: c_long_long, c_char
      character(kind=c_char), dimension(*), intent(in) :: name
    end function

    integer(c_int) function omst_finalize() bind(c, name='omst_finalize')
      import :: c_int
    end function

    type(c_ptr) function omst_strerror(code) bind(c, name='omst_strerror')
      import :: c_ptr, c_int
      integer(c_int), value :: code
    end function

    type(c_ptr) function omst_last_error() bind(c, name='omst_last_error')
      import :: c_ptr
    end function

    integer(c_int) function c_usleep(microseconds) bind(c, name='usleep')
      import :: c_int
      integer(c_int), value :: microseconds
    end function
  end interface

contains

  ! A C string as a Fortran one.
  function from_c_string(pointer) result(text)
    type(c_ptr), intent(in) :: pointer
    character(len=:), allocatable :: text
    character(kind=c_char), pointer :: chars(:)
    integer :: length
    interface
      integer(c_size_t) function c_strlen(s) bind(c, name='strlen')
        import :: c_size_t, c_ptr
        type(c_ptr), value :: s
      end function
    end interface
    length = int(c_strlen(pointer))
    call c_f_pointer(pointer, chars, [length])
    allocate(character(len=length) :: text)
    text = transfer(chars, text)
  end function

  subroutine fail(what, code)
    character(len=*), intent(in) :: what
    integer(c_long_long), intent(in) :: code
    write (0, '(a, ": ", a, " (", i0, "): ", a)') 'worker_f: ' // what, &
      from_c_string(omst_strerror(int(code, c_int))), code, from_c_string(omst_last_error())
    error stop 1
  end subroutine
end module omnistore

program worker
  use omnistore
  implicit none
  integer, parameter :: initial_count = 1000 * 1000, output_count = 1000, wait_seconds = 120
  real(c_double), allocatable, target :: initialdata(:)
  real(c_double), target :: output(output_count)
  character(kind=c_char), allocatable, target :: uri(:)
  character(len=1024) :: argument
  character(len=64) :: name
  integer(c_long_long) :: got
  integer(c_int) :: rc
  integer :: id, i, j, k, polls, length

  if (command_argument_count() < 1) then
    write (0, '(a)') 'usage: worker_f ID [URI]'
    error stop 2
  end if
  call get_command_argument(1, argument)
  read (argument, *) id

  if (command_argument_count() >= 2) then
    call get_command_argument(2, argument, length)
    allocate(uri(length + 1))
    do i = 1, length
      uri(i) = argument(i:i)
    end do
    uri(length + 1) = c_null_char
    rc = omst_init(c_loc(uri))
  else
    rc = omst_init(c_null_ptr)
  end if
  if (rc /= OMST_OK) call fail('omst_init', int(rc, c_long_long))

  ! The master may not have put the data yet: wait for it, 20 ms at a time.
  allocate(initialdata(initial_count))
  do polls = 1, wait_seconds * 50
    got = omst_get_data('MyInitialData' // c_null_char, c_loc(initialdata), &
                        int(8 * initial_count, c_size_t))
    if (got /= OMST_E_NOT_FOUND) exit
    rc = c_usleep(20000_c_int)
  end do
  if (got < 0) call fail('omst_get_data', got)
  if (got /= 8 * initial_count) then
    write (0, '(a, i0, a)') 'worker_f: MyInitialData has ', got, ' bytes, expected 8000000'
    error stop 1
  end if
  do i = 1, initial_count
    if (initialdata(i) /= real(i - 1, c_double) * 0.5_c_double) then
      write (0, '(a, i0, a, f0.1)') 'worker_f: MyInitialData(', i, ') = ', initialdata(i)
      error stop 1
    end if
  end do

  ! Row k of the C matrix is initialdata(1000k+1 .. 1000k+1000).
  do k = 0, output_count - 1
    output(k + 1) = real(id, c_double)
    do j = 1, 1000
      output(k + 1) = output(k + 1) + initialdata(k * 1000 + j)
    end do
  end do
  write (name, '(a, i0)') 'MyOutput/', id
  rc = omst_put_data(trim(name) // c_null_char, c_loc(output), int(8 * output_count, c_size_t))
  if (rc /= OMST_OK) call fail('omst_put_data', int(rc, c_long_long))
  write (*, '(a, i0, a, i0, a, a)') 'worker_f ', id, ': got MyInitialData (', got, ' bytes, checked), put ', trim(name)

  rc = omst_finalize()
  if (rc /= OMST_OK) call fail('omst_finalize', int(rc, c_long_long))
end program worker
